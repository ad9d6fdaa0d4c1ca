"""Import a PyTorch-trained model into a seq2seq_jax work directory.

  python -m seq2seq_jax.interop --config=configs/transformer.py:multi30k \
      --state_dict=tut6-model.pt --src_vocab=src.txt --tgt_vocab=tgt.txt --workdir=RUN
  python -m seq2seq_jax.main --mode=translate --workdir=RUN "ein mann ."

  # the seq2seq tutorial's two modules, saved as two files
  python -m seq2seq_jax.interop --config=configs/gru_attention.py \
      --config.model.fixed_slots=all --encoder_state_dict=encoder.pt \
      --decoder_state_dict=decoder.pt --src_vocab=fra.txt --tgt_vocab=eng.txt --workdir=RUN

  # the char-RNN classifier: labels (languages) one a line, in index order
  python -m seq2seq_jax.interop --config=configs/char_rnn.py:tutorial \
      --state_dict=char-rnn.pt --labels=labels.txt --workdir=RUN
  python -m seq2seq_jax.main --mode=predict --workdir=RUN Hinton

Vocabulary files hold one token per line in index order (torchtext's
`"\\n".join(SRC.vocab.itos)`, the seq2seq tutorial's `Lang.index2word` values). The
special tokens' roles come from the config's data.specials set where the file has its
tokens, else by name (bos <sos>/<bos>/<s>/SOS; eos <eos>/</s>/<e>/EOS; pad <pad>, else
eos; unk <unk>/UNK, else none), or are given with --bos_token/--eos_token/--pad_token/
--unk_token. The encoder and the decoder may come as one state_dict (keys prefixed
`encoder.` / `decoder.`) or as two (--encoder_state_dict, --decoder_state_dict).
The config names the model (sizes, switches) and the data settings that
translate/evaluate use; every key and shape of the state_dict is checked against
the model it builds. The number of heads cannot be read from the weights: pass
--config.model.heads if it is not the config's.

The work directory gets what training writes (config.json, vocab_*.json or, for the
classifier, split.json with the labels and, when the dataset is there, its split;
params.txt, checkpoints/best and checkpoints/latest at step 0), so --mode=translate /
--mode=predict and --mode=evaluate use it directly and --mode=train fine-tunes.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from absl import app, flags

from seq2seq_jax import cli, rundir  # --config, --workdir and the one-line error handling
from seq2seq_jax.data.vocab import SPECIALS, Vocab
from seq2seq_jax.errors import CheckpointError, ConfigError, DataError, UserError

_STATE_DICT = flags.DEFINE_string(
  "state_dict", None, "PyTorch state_dict: torch.save(model.state_dict()) .pt, or .npz."
)
_ENCODER_SD = flags.DEFINE_string(
  "encoder_state_dict", None, "The encoder's state_dict, when saved apart (the RNN tutorial)."
)
_DECODER_SD = flags.DEFINE_string(
  "decoder_state_dict", None, "The decoder's state_dict, when saved apart (the RNN tutorial)."
)
_SRC_VOCAB = flags.DEFINE_string("src_vocab", None, "Source tokens, one a line, in index order.")
_TGT_VOCAB = flags.DEFINE_string("tgt_vocab", None, "Target tokens, one a line, in index order.")
_LABELS = flags.DEFINE_string(
  "labels", None, "Classifier: label names (languages), one a line, in index order."
)
_ROLE_FLAGS = {
  role: flags.DEFINE_string(f"{role}_token", None, f"The {role} token (default: found by name).")
  for role in ("bos", "eos", "pad", "unk")
}

log = logging.getLogger("seq2seq_jax")

# role -> names it goes by, in order of preference (torchtext's first; then the RNN
# tutorials' SOS/EOS). Without a pad token, padding reuses <eos> (it is masked
# everywhere, as data/vocab.py's tutorial specials do); without an unk token,
# unknown words are refused.
ROLE_NAMES = {
  "bos": ("<sos>", "<bos>", "<s>", "SOS"),
  "eos": ("<eos>", "</s>", "<e>", "EOS"),
  "pad": ("<pad>",),
  "unk": ("<unk>", "UNK"),
}
REQUIRED_ROLES = ("bos", "eos")


def _read_lines(path: str | Path, what: str) -> list[str]:
  """One item per line (a final newline allowed); no empty or repeated lines."""
  path = Path(path)
  if not path.is_file():
    raise DataError(f"{what} file {path} does not exist.")
  lines = path.read_text(encoding="utf-8").split("\n")
  if lines and lines[-1] == "":
    lines.pop()
  seen: dict[str, int] = {}
  for no, item in enumerate(lines, 1):
    item = item.rstrip("\r")
    if not item.strip():
      raise DataError(f"{path}:{no}: empty {what}; the file must hold one {what} per line.")
    if item in seen:
      raise DataError(f"{path}:{no}: {what} {item!r} repeats line {seen[item]}.")
    seen[item] = no
  return list(seen)


def read_vocab_file(
  path: str | Path,
  roles: dict[str, str | None] | None = None,
  defaults: dict[str, str] | None = None,
) -> Vocab:
  """One token per line, in index order -> Vocab. Roles: given, else `defaults` (e.g. the
  config's data.specials) where the file has that token, else found by ROLE_NAMES."""
  path = Path(path)
  tokens = _read_lines(path, "token")
  seen = set(tokens)
  chosen = {}
  for role, names in ROLE_NAMES.items():
    given = (roles or {}).get(role)
    default = (defaults or {}).get(role)
    names = ((default,) if default in seen else ()) + names
    chosen[role] = given if given is not None else next((n for n in names if n in seen), None)
    if chosen[role] is None and role in REQUIRED_ROLES:
      raise DataError(
        f"{path} has no {role} token (looked for {' '.join(names)}): name it with "
        f"--{role}_token=TOKEN."
      )
  chosen["pad"] = chosen["pad"] or chosen["eos"]
  return Vocab(tokens=tuple(tokens), **chosen)  # checks that given tokens exist


def read_labels_file(path: str | Path) -> list[str]:
  """Label names, one per line, in the classifier's output order."""
  return _read_lines(path, "label")


def _import(config, model, init_args, state_dict, note: str) -> dict:
  """The state_dict as the model's variables (config.model's name mapping); a mismatch's
  message ends with `note`."""
  from seq2seq_jax.interop.torch_import import abstract_variables, import_state_dict, mapping_for

  try:
    target = abstract_variables(model, *init_args)
    return import_state_dict(state_dict, mapping_for(config.model), target)
  except CheckpointError as e:
    raise CheckpointError(f"{e} ({note})") from None


def _write_run(config, workdir: Path, model, init_args, variables, state_dict, write_files) -> int:
  """Writes config.json, the task's files (`write_files(workdir)`), params.txt and the
  checkpoints holding `variables`; returns the parameter count."""
  import jax

  from seq2seq_jax import train
  from seq2seq_jax.train.checkpoint import Checkpoints, Meta

  # The optimizer state and rng that training would start from, so that
  # restore_params / a fine-tuning run find the structure they expect.
  state = train.create_state(model, init_args, config).replace(params=jax.device_put(variables))
  workdir.mkdir(parents=True, exist_ok=True)
  rundir.write_config(workdir, config)
  write_files(workdir)
  (workdir / "params.txt").write_text(train.param_summary(state.params) + "\n")
  imported_from = (
    str(Path(state_dict).absolute())
    if isinstance(state_dict, (str, Path))
    else "a state_dict mapping"
  )
  meta = Meta(imported_from=imported_from)
  ckpts = Checkpoints(workdir)
  try:
    for which in ("best", "latest"):
      ckpts.save(which, state, meta)
  finally:
    ckpts.close()
  return sum(x.size for x in jax.tree.leaves(state.params))


def import_translation(
  config, workdir: Path, state_dict, src_vocab: Vocab, tgt_vocab: Vocab
) -> int:
  """Writes a translation run with the imported weights; returns the parameter count."""
  from seq2seq_jax.tasks import translation

  model = translation.make_model(config, src_vocab, tgt_vocab)
  init_args = translation.init_args(config)
  note = f"The vocabulary files give {len(src_vocab)} source and {len(tgt_vocab)} target tokens."
  variables = _import(config, model, init_args, state_dict, note)

  def write_files(d: Path) -> None:
    src_vocab.save(d / translation.SRC_VOCAB)
    tgt_vocab.save(d / translation.TGT_VOCAB)

  return _write_run(config, workdir, model, init_args, variables, state_dict, write_files)


def classifier_split(config, labels: list[str]):
  """The labels and, when the config's dataset is there, its train/validation/test split
  (the config's fractions and seed) with label ids in the labels file's order."""
  from seq2seq_jax.data.registry import load_labelled
  from seq2seq_jax.tasks import classification

  try:
    data = load_labelled(config.data)
  except DataError as e:
    log.warning("no dataset (%s): the run can predict, not evaluate or train", e)
    return classification.Split(labels, [], [], [])
  unknown = sorted(set(data.label_names) - set(labels))
  if unknown:
    raise DataError(
      f"the labels file lacks the dataset's label(s) {', '.join(unknown)}: it "
      "must list the PyTorch model's labels, one a line, in index order."
    )
  d = config.data
  split = classification.make_split(data, d.test_fraction, d.valid_fraction, d.split_seed)
  to_file = [labels.index(name) for name in split.labels]
  remap = lambda examples: [(n, to_file[y]) for n, y in examples]
  return classification.Split(
    labels, remap(split.train), remap(split.validation), remap(split.test)
  )


def import_classifier(config, workdir: Path, state_dict, labels: list[str]) -> int:
  """Writes a classification run with the imported weights; returns the parameter count."""
  from seq2seq_jax.tasks import classification

  model = classification.make_model(config, len(labels))
  init_args = classification.init_args(config)
  note = f"The labels file gives {len(labels)} labels."
  variables = _import(config, model, init_args, state_dict, note)
  split = classifier_split(config, labels)
  return _write_run(
    config,
    workdir,
    model,
    init_args,
    variables,
    state_dict,
    lambda d: split.save(d / classification.SPLIT_FILE),
  )


def _state_dict_source(state_dict: str | None, encoder: str | None, decoder: str | None):
  """--state_dict, or the encoder's and the decoder's joined under encoder. / decoder."""
  from seq2seq_jax.interop.torch_import import join_state_dicts

  if state_dict and (encoder or decoder):
    raise UserError(
      "give either --state_dict or --encoder_state_dict with --decoder_state_dict, not both."
    )
  if bool(encoder) != bool(decoder):
    raise UserError(
      "--encoder_state_dict and --decoder_state_dict go together: the tutorial "
      "saves the encoder and the decoder as two files."
    )
  return join_state_dicts(encoder=encoder, decoder=decoder) if encoder else state_dict


def run(
  config,
  workdir: Path | None,
  state_dict: str | None,
  src_vocab: str | None,
  tgt_vocab: str | None,
  roles: dict[str, str | None],
  labels: str | None = None,
  encoder_state_dict: str | None = None,
  decoder_state_dict: str | None = None,
) -> None:
  if config is None:
    raise ConfigError(
      "--config is required: the config the PyTorch model was built with, e.g. "
      "--config=configs/transformer.py:multi30k [--config.model.hid=...]."
    )
  task = config.get("task")
  if task not in ("translation", "classification"):
    raise ConfigError(
      f"importing a {task!r} run is not supported yet; supported: translation, classification."
    )
  source = state_dict or encoder_state_dict
  given = dict(
    state_dict=source,
    **(
      dict(labels=labels)
      if task == "classification"
      else dict(src_vocab=src_vocab, tgt_vocab=tgt_vocab)
    ),
    workdir=workdir,
  )
  missing = [f"--{name}" for name, value in given.items() if not value]
  if missing:
    raise UserError(f"missing {', '.join(missing)}: see `python -m seq2seq_jax.interop --help`.")
  if (workdir / "checkpoints").exists():
    raise UserError(f"{workdir} already holds checkpoints: import into a new --workdir.")
  if task == "classification":
    if src_vocab or tgt_vocab:
      raise UserError("a classifier takes --labels, not --src_vocab / --tgt_vocab.")
    names = read_labels_file(labels)
    n = import_classifier(
      config, workdir, _state_dict_source(state_dict, encoder_state_dict, decoder_state_dict), names
    )
    log.info("imported %s parameters from %s into %s", f"{n:,}", source, workdir)
    log.info("predict: python -m seq2seq_jax.main --mode=predict --workdir=%s NAME ...", workdir)
    return
  if labels:
    raise UserError("--labels is for a classifier; a translator takes --src_vocab / --tgt_vocab.")
  sd = _state_dict_source(state_dict, encoder_state_dict, decoder_state_dict)
  m = config.model
  if (
    m.get("name") == "rnn"
    and m.get("attention") == "fixed"
    and m.get("fixed_slots", "source") != "all"
  ):
    log.warning(
      "model.attention=fixed softmaxes over the source's slots; the tutorial's "
      "AttnDecoderRNN over all max_length slots: pass --config.model.fixed_slots=all "
      "for its exact function."
    )
  defaults = SPECIALS.get(config.data.get("specials", ""), ((), {}))[1]
  src, tgt = (
    read_vocab_file(src_vocab, roles, defaults),
    read_vocab_file(tgt_vocab, roles, defaults),
  )
  n = import_translation(config, workdir, sd, src, tgt)
  log.info(
    "imported %s parameters from %s into %s",
    f"{n:,}",
    source if not encoder_state_dict else f"{encoder_state_dict} + {decoder_state_dict}",
    workdir,
  )
  log.info('translate: python -m seq2seq_jax.main --mode=translate --workdir=%s "..."', workdir)


def main(argv: list[str]) -> None:
  cli.setup_logging()
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}", file=sys.stderr)
    sys.exit(2)
  cli.exit_on_user_error(
    lambda: run(
      cli.config_value(),
      cli.workdir_value(),
      _STATE_DICT.value,
      _SRC_VOCAB.value,
      _TGT_VOCAB.value,
      {role: f.value for role, f in _ROLE_FLAGS.items()},
      _LABELS.value,
      _ENCODER_SD.value,
      _DECODER_SD.value,
    )
  )


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
