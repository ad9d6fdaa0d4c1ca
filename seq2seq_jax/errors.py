"""User-facing errors: one readable message that names the problem and the fix.

`main` catches `UserError`, prints its message (no traceback) and exits with
status 2. Raise it for anything a user can cause: bad data, bad config, a
missing or corrupt checkpoint.
"""


class UserError(Exception):
  """A problem the user can fix; `str(err)` is the whole message shown."""


class DataError(UserError):
  """Missing, empty or malformed input data."""


class ConfigError(UserError, ValueError):
  """Unknown config key, wrong type, unknown dataset or model name (a bad value, so also a
  ValueError, as ml_collections and config files raise for their own checks)."""


class CheckpointError(UserError):
  """No checkpoint where one is needed, or a corrupt/truncated one."""


class TrainingError(UserError):
  """The run cannot go on as configured: the loss or the parameters became NaN or infinite."""
