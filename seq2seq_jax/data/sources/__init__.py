"""One module per data source: reads it and normalises it to the split types of data/types.py."""
