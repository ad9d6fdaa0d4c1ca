"""The GPU requirements install the same jax as the CPU ones, every line pinned (an
environment marker after `;` may limit a pin to some platforms)."""

import re

from tests.conftest import ROOT


def pins(name: str) -> dict[str, str]:
  out = {}
  for line in (ROOT / name).read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-r"):
      continue
    pin = r"([A-Za-z0-9_.\-]+)(\[[a-z0-9,]+\])?==([0-9][0-9A-Za-z.+]*)"
    marker = r'[a-z_]+ == "[^"]+"'  # e.g. platform_machine == "x86_64"
    m = re.fullmatch(rf"{pin}( ?; ?{marker}( and {marker})*)?", line)
    assert m, f"{name}: {line!r} is not pinned as name==version"
    out[m.group(1).lower()] = m.group(3)
  return out


def test_cuda_requirements_pin_the_cpu_jax_version():
  cpu, cuda = pins("requirements.txt"), pins("requirements-cuda.txt")
  assert "-r requirements.txt" in (ROOT / "requirements-cuda.txt").read_text()
  assert cuda["jax"] == cpu["jax"] == cpu["jaxlib"]
  assert cuda["jax-cuda12-plugin"] == cuda["jax-cuda12-pjrt"] == cpu["jax"]


def test_every_requirement_is_pinned_and_the_onednn_pin_only_on_x86_linux():
  for name in ("requirements.txt", "requirements-test.txt", "requirements-cuda.txt"):
    pins(name)  # each line name==version (asserts inside)
  line = next(x for x in (ROOT / "requirements.txt").read_text().splitlines() if "onednn" in x)
  assert 'platform_machine == "x86_64"' in line and 'sys_platform == "linux"' in line
