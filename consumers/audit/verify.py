"""`hub audit verify`: replay the court log, the checkpoints and every acknowledgement
topic from offset 0 and check each rule; name each failure by topic, partition, offset.

Checkpoints are read first (each one's signature checked), then the court log
(consumers/audit/courtlog.py: order, hash chain, Merkle roots, and each event authenticated
by a checkpoint or by its own signature - issue #6), then every acknowledgement (each
signature checked in the worker processes, each must name an event of the log)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consumers.audit import replay
from consumers.audit.courtlog import Checkpoint, CourtLog
from consumers.audit.sigcheck import SigChecker, SigPool, make_pool
from consumers.audit.unitlog import UnitLogs
from consumers.audit.verify_report import Report, id_fp, loc_of, signature_in, signature_of
from hub import codec
from hub.config import Settings
from hub.keys import court_signer, unit_signer
from hub.ledger import TrustStore


class Verifier(CourtLog):
    """Feed `checkpoint()` every checkpoint first, then `event()` every court record, then
    `finish_court()`, then `ack()` every acknowledgement."""

    def _signed_record(self, r: Any, loc: Any, sig_error: str | None, sig_rule: str,
                       expected: str, where: str) -> dict[str, Any] | None:
        """The decoded record, or None once its failure (signature, decoding, wrong record
        type for the topic) has been reported."""
        if sig_error:
            self.report.fail(loc, sig_rule, sig_error)
            return None
        try:
            name, rec = codec.decode_dict(r.value)
        except codec.CodecError as e:
            self.report.fail(loc, "decode", str(e))
            return None
        if name != expected:
            self.report.fail(loc, "decode", f"{name} on {where}")
            return None
        return rec

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, r: Any, signer: str, sig_error: str | None) -> None:
        loc = loc_of(r)
        rec = self._signed_record(r, loc, sig_error, "checkpoint_signature",
                                  "credithub.court.CourtCheckpoint", "the checkpoint topic")
        if rec is None:
            return
        code = rec["court_code"]
        if signer != court_signer(code):
            self.report.fail(loc, "signer_mismatch", f"signed by {signer}, checkpoint of "
                                                     f"{court_signer(code)}")
            return
        c = self.court(code)
        cp = Checkpoint(rec["tree_size"], rec["root_hash"], loc)
        if c.checkpoints and cp.tree_size < c.checkpoints[-1].tree_size:
            # One court's checkpoints share a partition (key = court_code): log order is
            # issue order, and a log only grows.
            self.report.fail(loc, "checkpoint_regression",
                             f"court {code}: tree_size {cp.tree_size} after "
                             f"{c.checkpoints[-1].tree_size}")
            return
        c.checkpoints.append(cp)

    # ------------------------------------------------------------------ acknowledgements
    ACK_RECORDS = ("credithub.unit.UnitAcknowledged", "credithub.unit.UnitAckBatch",
                   "credithub.unit.UnitCheckpoint")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unit_logs = UnitLogs(self.report.fail, self.court_roots)

    def ack(self, r: Any, unit: str, signer: str, sig_error: str | None) -> None:
        """A record of `acks.<unit>.v1`: an old UnitAcknowledged, a UnitAckBatch or a
        UnitCheckpoint (consumers/audit/unitlog.py)."""
        loc = loc_of(r)
        if sig_error:
            self.report.acks_checked += 1
            self.report.fail(loc, "ack_signature", sig_error)
            return
        try:
            name, rec = codec.decode_dict(r.value)
        except codec.CodecError as e:
            self.report.acks_checked += 1
            self.report.fail(loc, "decode", str(e))
            return
        if name not in self.ACK_RECORDS:
            self.report.acks_checked += 1
            self.report.fail(loc, "decode", f"{name} on an acknowledgement topic")
            return
        if signer != unit_signer(rec["unit"]) or rec["unit"] != unit:
            self.report.acks_checked += 1
            self.report.fail(loc, "signer_mismatch", f"signed by {signer}, {name.rsplit('.')[-1]}"
                                                     f" of unit {rec['unit']} on the topic of "
                                                     f"{unit}")
            return
        if name == "credithub.unit.UnitCheckpoint":
            self.unit_logs.checkpoint(loc, unit, rec)
            self.report.unit_checkpoints_checked += 1
            return
        if name == "credithub.unit.UnitAcknowledged":
            entries = [rec]
        else:
            self.report.ack_batches_checked += 1
            if not self.unit_logs.batch(loc, unit, r.value, rec):
                return  # an identical second copy
            entries = rec["entries"]
        for e in entries:
            self.report.acks_checked += 1
            c = self.courts.get(e["court_code"])
            seq = e["court_seq"]
            if c is None or not 1 <= seq <= len(c.event_fp) or c.event_fp[seq - 1] != id_fp(
                    e["event_id"]):
                self.report.fail(loc, "ack_unknown_event",
                                 f"event {e['event_id']} (court {e['court_code']}, court_seq "
                                 f"{seq}) is not in the court log")


def run(s: Settings, *, jobs: int = 2, progress: bool = True, all_signatures: bool = False,
        sample_rate: float = 0.0) -> Report:
    trust = TrustStore.load(s.trust_store_path)
    # The court log is read and decoded in a second process from now on (before the pool's
    # threads exist), while this one checks the checkpoints and then the events.
    court = replay.read_in_background(s, [s.court_topic], progress=progress,
                                      label="court events", raw=True)
    pool = make_pool(s.trust_store_path, jobs)
    try:
        sigs = SigPool(s.trust_store_path, jobs, pool=pool)
        v = Verifier(s.court_topic, trust=trust, sigs=sigs, all_signatures=all_signatures,
                     sample_rate=sample_rate)
        with SigChecker(s.trust_store_path, 0) as inline:
            # one checkpoint every N events per court: few, checked inline and in order
            for r, signer, err in inline.checked(replay.read(
                    s, [s.checkpoint_topic], progress=progress, label="checkpoints")):
                v.checkpoint(r, signer, err)
        if all_signatures:
            # every event's own signature, in the workers, results in log order; a record
            # that fails never enters the order (its genuine copy may still come)
            with SigChecker(s.trust_store_path, jobs, pool=pool) as sc:
                for r, _signer, err in sc.checked(replay.Rec(*t) for t in court):
                    v.report.signatures_checked += 1
                    v.event(r, err if err else signature_of(r))
        else:
            event = v.event_at
            for topic, partition, offset, _key, value, headers in court:
                event((topic, partition, offset), value, signature_in(value, headers))
        v.finish_court()
        acks = replay.ack_topics(s)
        if acks:
            units = {t: replay.unit_of_ack_topic(s, t) for t in acks}
            recs: Iterable[Any] = replay.read(s, acks, progress=progress, label="acks")
            with SigChecker(s.trust_store_path, jobs, pool=pool) as sc:
                for r, signer, err in sc.checked(recs):
                    v.ack(r, units[r.topic], signer, err)
    finally:
        close = getattr(court, "close", None)
        if close is not None:
            close()  # stops the reader process if the run ended early
        if pool is not None:
            pool.terminate()
            pool.join()
    return v.report
