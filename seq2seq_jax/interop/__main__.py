"""Import a PyTorch-trained model into a seq2seq_jax work directory.

  python -m seq2seq_jax.interop --config=configs/transformer.py:multi30k \
      --state_dict=tut6-model.pt --src_vocab=src.txt --tgt_vocab=tgt.txt --workdir=RUN
  python -m seq2seq_jax.main --mode=translate --workdir=RUN "ein mann ."

Vocabulary files hold one token per line in index order (torchtext's
`"\\n".join(SRC.vocab.itos)`). The special tokens' roles are found by name
(bos <sos>/<bos>/<s>/SOS; eos <eos>/</s>/<e>/EOS; pad <pad>, else eos; unk
<unk>/UNK, else none) or given with --bos_token/--eos_token/--pad_token/--unk_token.
The config names the model (sizes, switches) and the data settings that
translate/evaluate use; every key and shape of the state_dict is checked against
the model it builds. The number of heads cannot be read from the weights: pass
--config.model.heads if it is not the config's.

The work directory gets what training writes (config.json, vocab_*.json,
params.txt, checkpoints/best and checkpoints/latest at step 0), so
--mode=translate and --mode=evaluate use it directly and --mode=train fine-tunes.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from absl import app, flags

from seq2seq_jax import main as cli  # --config, --workdir and the one-line error handling
from seq2seq_jax.data.vocab import Vocab
from seq2seq_jax.errors import CheckpointError, ConfigError, DataError, UserError

_STATE_DICT = flags.DEFINE_string(
    "state_dict", None, "PyTorch state_dict: torch.save(model.state_dict()) .pt, or .npz.")
_SRC_VOCAB = flags.DEFINE_string("src_vocab", None, "Source tokens, one a line, in index order.")
_TGT_VOCAB = flags.DEFINE_string("tgt_vocab", None, "Target tokens, one a line, in index order.")
_ROLE_FLAGS = {role: flags.DEFINE_string(f"{role}_token", None,
                                         f"The {role} token (default: found by name).")
               for role in ("bos", "eos", "pad", "unk")}

log = logging.getLogger("seq2seq_jax")

# role -> names it goes by, in order of preference (torchtext's first; then the RNN
# tutorials' SOS/EOS). Without a pad token, padding reuses <eos> (it is masked
# everywhere, as data/vocab.py's tutorial specials do); without an unk token,
# unknown words are refused.
ROLE_NAMES = {"bos": ("<sos>", "<bos>", "<s>", "SOS"), "eos": ("<eos>", "</s>", "<e>", "EOS"),
              "pad": ("<pad>",), "unk": ("<unk>", "UNK")}
REQUIRED_ROLES = ("bos", "eos")


def read_vocab_file(path: str | Path, roles: dict[str, str | None] | None = None) -> Vocab:
  """One token per line, in index order -> Vocab; roles given or found by ROLE_NAMES."""
  path = Path(path)
  if not path.is_file():
    raise DataError(f"vocabulary file {path} does not exist.")
  lines = path.read_text(encoding="utf-8").split("\n")
  if lines and lines[-1] == "":
    lines.pop()
  seen: dict[str, int] = {}
  for no, token in enumerate(lines, 1):
    token = token.rstrip("\r")
    if not token.strip():
      raise DataError(f"{path}:{no}: empty token; the file must hold one token per line.")
    if token in seen:
      raise DataError(f"{path}:{no}: token {token!r} repeats line {seen[token]}.")
    seen[token] = no
  chosen = {}
  for role, names in ROLE_NAMES.items():
    given = (roles or {}).get(role)
    chosen[role] = given if given is not None else next((n for n in names if n in seen), None)
    if chosen[role] is None and role in REQUIRED_ROLES:
      raise DataError(f"{path} has no {role} token (looked for {' '.join(names)}): name it with "
                      f"--{role}_token=TOKEN.")
  chosen["pad"] = chosen["pad"] or chosen["eos"]
  return Vocab(tokens=tuple(seen), **chosen)  # checks that given tokens exist


def import_translation(config, workdir: Path, state_dict: str, src_vocab: Vocab,
                       tgt_vocab: Vocab) -> int:
  """Writes a translation run with the imported weights; returns the parameter count."""
  import jax

  from seq2seq_jax import train, translation
  from seq2seq_jax.checkpoint import Checkpoints
  from seq2seq_jax.interop.torch_import import (
      abstract_variables,
      import_state_dict,
      mapping_for,
  )

  mapping = mapping_for(config.model.name)
  model = translation.make_model(config, src_vocab, tgt_vocab)
  init_args = translation.init_args(config)
  try:
    variables = import_state_dict(state_dict, mapping, abstract_variables(model, *init_args))
  except CheckpointError as e:
    raise CheckpointError(f"{e} (The vocabulary files give {len(src_vocab)} source and "
                          f"{len(tgt_vocab)} target tokens.)") from None
  # The optimizer state and rng that training would start from, so that
  # restore_params / a fine-tuning run find the structure they expect.
  state = train.create_state(model, init_args, config).replace(params=jax.device_put(variables))
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / cli.CONFIG_FILE).write_text(config.to_json_best_effort(indent=2) + "\n")
  src_vocab.save(workdir / translation.SRC_VOCAB)
  tgt_vocab.save(workdir / translation.TGT_VOCAB)
  (workdir / "params.txt").write_text(train.param_summary(state.params) + "\n")
  meta = {"best_valid_loss": float("inf"), "history": [], "epoch_sums": None,
          "imported_from": str(Path(state_dict).absolute())}
  ckpts = Checkpoints(workdir)
  try:
    for which in ("best", "latest"):
      ckpts.save(which, state, meta)
  finally:
    ckpts.close()
  return sum(x.size for x in jax.tree.leaves(state.params))


def run(config, workdir: Path | None, state_dict: str | None, src_vocab: str | None,
        tgt_vocab: str | None, roles: dict[str, str | None]) -> None:
  if config is None:
    raise ConfigError("--config is required: the config the PyTorch model was built with, e.g. "
                      "--config=configs/transformer.py:multi30k [--config.model.hid=...].")
  if config.get("task") != "translation":
    raise ConfigError(f"importing a {config.get('task')!r} run is not supported yet; supported: "
                      "translation.")
  given = dict(state_dict=state_dict, src_vocab=src_vocab, tgt_vocab=tgt_vocab, workdir=workdir)
  missing = [f"--{name}" for name, value in given.items() if not value]
  if missing:
    raise UserError(f"missing {', '.join(missing)}: see `python -m seq2seq_jax.interop --help`.")
  if (workdir / "checkpoints").exists():
    raise UserError(f"{workdir} already holds checkpoints: import into a new --workdir.")
  src, tgt = read_vocab_file(src_vocab, roles), read_vocab_file(tgt_vocab, roles)
  n = import_translation(config, workdir, state_dict, src, tgt)
  log.info("imported %s parameters from %s into %s", f"{n:,}", state_dict, workdir)
  log.info("translate: python -m seq2seq_jax.main --mode=translate --workdir=%s \"...\"", workdir)


def main(argv: list[str]) -> None:
  cli._setup_logging()
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}", file=sys.stderr)
    sys.exit(2)
  try:
    run(cli._config_value(), Path(cli._WORKDIR.value) if cli._WORKDIR.value else None,
        _STATE_DICT.value, _SRC_VOCAB.value, _TGT_VOCAB.value,
        {role: f.value for role, f in _ROLE_FLAGS.items()})
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main, flags_parser=cli._parse_flags)
