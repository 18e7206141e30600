"""The court side's Python API (what the CLI and tests call).

- `submit(s, lines, *, relay=True, progress=None, on_key_created=None, early_relay=None)
  -> SubmitResult`
  (raises `SubmitRejected`, an InputError carrying `.errors: list[DecisionError]`)
- `drain(s, progress=None) -> RelayResult`: publish the outbox now, then final checkpoints.
"""

from __future__ import annotations

from producers.court.drain import drain, drain_after_submit, run
from producers.court.relay import RelayBusy, RelayResult
from producers.court.submit import SubmitRejected, SubmitResult, submit

__all__ = [
    "RelayBusy", "RelayResult", "SubmitRejected", "SubmitResult", "drain", "drain_after_submit",
    "run", "submit",
]
