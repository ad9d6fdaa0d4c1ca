"""tfds builders for the raw sources: base (cache, records), download, datasets."""
