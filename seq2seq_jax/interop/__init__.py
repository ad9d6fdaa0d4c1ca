"""PyTorch interop: reference models with the tutorials' names, state_dict import, parity.

torch_import.py   state_dict (.pt / .npz / mapping) <-> Flax params; no torch needed
torch_models.py   the PyTorch transformer reference (imports torch)
torch_rnn_models.py, torch_classifier.py  the RNN translators' and classifier's references
torch_beams.py    the references' shared beam-search bookkeeping
parity/           same weights -> max abs differences of outputs and gradients (torch)
__main__.py       python -m seq2seq_jax.interop: .pt + vocabularies -> a work directory
"""
