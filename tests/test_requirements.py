"""The GPU requirements install the same jax as the CPU ones, every line pinned."""

import re

from tests.conftest import ROOT


def pins(name: str) -> dict[str, str]:
  out = {}
  for line in (ROOT / name).read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-r"):
      continue
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[a-z0-9,]+\])?==([0-9][0-9A-Za-z.+]*)", line)
    assert m, f"{name}: {line!r} is not pinned as name==version"
    out[m.group(1).lower()] = m.group(3)
  return out


def test_cuda_requirements_pin_the_cpu_jax_version():
  cpu, cuda = pins("requirements.txt"), pins("requirements-cuda.txt")
  assert "-r requirements.txt" in (ROOT / "requirements-cuda.txt").read_text()
  assert cuda["jax"] == cpu["jax"] == cpu["jaxlib"]
  assert cuda["jax-cuda12-plugin"] == cuda["jax-cuda12-pjrt"] == cpu["jax"]
