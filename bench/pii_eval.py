"""Evaluate the PII engine: per-entity precision/recall/F1 and speed, vs Presidio.

Usage::

    python bench/pii_eval.py            # EVAL_SEED, 2,000 documents, speed runs
    python bench/pii_eval.py --quick    # tiny version for CI
    python bench/pii_eval.py --seed tune  # the tuning seed

Presidio (``pip install -r bench/requirements-pii.txt``) is optional: without it only
cpragate is measured. Its spaCy models cannot be downloaded here, so it runs with a
blank English pipeline (``spacy.blank("en")``), i.e. its pattern recognizers (regex +
checksums + context words) and no NER: PERSON/LOCATION are not detected by it.
Presidio results are kept at score >= 0.4 and analysed one string value at a time.

Matching: a finding is a true positive when its path and entity equal a labeled
value's, and, for free text, the spans overlap. Geolocation pairs held in two fields
are labeled at their object's path.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pii_corpus import EVAL_SEED, TUNE_SEED, Doc, generate

from cpragate.pii import Action, ActionRules, Engine
from cpragate.pii.engine import render_path

PRESIDIO_MAP = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "US_SSN": "us_ssn",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip_address",
    "US_DRIVER_LICENSE": "us_driver_license",
    "US_PASSPORT": "us_passport",
    "ABA_ROUTING_NUMBER": "aba_routing",
    "PERSON": "person",
}
Pred = tuple[str, str, "tuple[int, int] | None"]


def cpragate_predict(engine: Engine, doc: Doc) -> list[Pred]:
    return [(f.path, f.entity, f.span) for f in engine.scan_json(doc.json())]


def presidio_engine() -> Any:
    try:
        import spacy
        import tldextract
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError:
        return None
    # Presidio's e-mail recognizer calls tldextract, which would try to download the
    # public suffix list; use the snapshot that ships in the wheel instead.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    import presidio_analyzer.predefined_recognizers.generic.email_recognizer as _email

    if hasattr(_email, "tldextract"):
        _email.tldextract.extract = tldextract.extract
    model_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "cpragate-blank-en"
    if not model_dir.exists():
        spacy.blank("en").to_disk(model_dir)
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": str(model_dir)}]}
    )
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def _strings(node: Any, loc: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _strings(v, (loc, k), out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _strings(v, (loc, i), out)
    elif isinstance(node, str):
        out.append((render_path(loc), node))


def presidio_predict(analyzer: Any, doc: Doc) -> list[Pred]:
    strings: list[tuple[str, str]] = []
    _strings(orjson.loads(doc.json()), None, strings)
    preds: list[Pred] = []
    for path, text in strings:
        for r in analyzer.analyze(text=text, language="en", score_threshold=0.4):
            e = PRESIDIO_MAP.get(r.entity_type)
            if e is not None:
                whole = r.start == 0 and r.end == len(text)
                preds.append((path, e, None if whole else (r.start, r.end)))
    return preds


def score(docs: list[Doc], preds: list[list[Pred]]) -> tuple[dict[tuple[str, str], list[int]], float, int]:
    """Per (slice, entity): [tp, fp, fn]; decoy flag rate; unlabeled false positives."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    decoys_flagged = decoys_total = 0
    for doc, pr in zip(docs, preds, strict=True):
        used = [False] * len(pr)
        slice_of_path = {t[0]: t[3] for t in doc.truth}
        for path, entity, span, sl in doc.truth:
            hit = False
            for i, (pp, pe, ps) in enumerate(pr):
                if used[i] or pp != path or pe != entity:
                    continue
                if span is not None and ps is not None and not (ps[0] < span[1] and span[0] < ps[1]):
                    continue
                used[i] = hit = True
                break
            counts[(sl, entity)][0 if hit else 2] += 1
        for path, span, _kind in doc.decoys:
            decoys_total += 1
            for pp, _pe, ps in pr:
                if pp == path and (span is None or ps is None or (ps[0] < span[1] and span[0] < ps[1])):
                    decoys_flagged += 1
                    break
        for i, (pp, pe, _ps) in enumerate(pr):
            if not used[i]:
                sl = slice_of_path.get(pp, "other")
                counts[(sl, pe)][1] += 1
    return counts, decoys_flagged / max(decoys_total, 1), decoys_total


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def print_table(title: str, counts: dict[tuple[str, str], list[int]], other: dict[tuple[str, str], list[int]] | None) -> None:
    print(f"\n### {title}\n")
    hdr = "| slice | entity | n | P | R | F1 |" + (" Presidio P | R | F1 |" if other is not None else "")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for key in sorted(counts):
        sl, e = key
        tp, fp, fn = counts[key]
        if tp + fn == 0 and sl == "other":
            line = f"| {sl} (unlabeled values) | {e} | 0 | false positives: {fp} | | |"
            if other is not None:
                line += f" false positives: {other.get(key, [0, 0, 0])[1]} | | |"
            print(line)
            continue
        p, r, f = f1(tp, fp, fn)
        line = f"| {sl} | {e} | {tp + fn} | {p:.3f} | {r:.3f} | **{f:.3f}** |"
        if other is not None:
            if e in PRESIDIO_MAP.values():
                po, ro, fo = f1(*other.get(key, [0, 0, tp + fn]))
                line += f" {po:.3f} | {ro:.3f} | {fo:.3f} |"
            else:
                line += " n/a | n/a | n/a |"
        print(line)


def speed_docs(docs: list[Doc], target: int) -> list[bytes]:
    """Documents of about ``target`` bytes: single docs near 1 KB, or wrapped lists."""
    out: list[bytes] = []
    items: list[Any] = []
    size = 0
    for d in docs:
        items.append(d.body)
        size += len(d.json())
        if size >= target:
            out.append(orjson.dumps({"data": items}) if len(items) > 1 else orjson.dumps(items[0]))
            items, size = [], 0
    return out


def throughput(fn: Any, payloads: list[bytes], min_time: float) -> float:
    """MB/s of CPU time (one core) for fn over payloads, repeated for >= min_time."""
    total = sum(len(p) for p in payloads)
    reps = 0
    start = time.process_time()
    while True:
        for p in payloads:
            fn(p)
        reps += 1
        el = time.process_time() - start
        if el >= min_time:
            return total * reps / el / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description="cpragate PII evaluation")
    ap.add_argument("--quick", action="store_true", help="tiny run for CI")
    ap.add_argument("--seed", default="eval", help="eval (default) or tune")
    ap.add_argument("--n", type=int, default=None, help="documents (default 2000; 60 with --quick)")
    ap.add_argument("--no-presidio", action="store_true")
    a = ap.parse_args()
    seed = EVAL_SEED if a.seed == "eval" else TUNE_SEED
    n = a.n or (60 if a.quick else 2000)
    docs = generate(seed, n)
    engine = Engine()
    analyzer = None if a.no_presidio else presidio_engine()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), platform.processor())
    print(f"## PII engine evaluation\n\ncommit {commit}, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}")
    print(f"command: `python bench/pii_eval.py {' '.join(sys.argv[1:])}`; seed {seed}, {n} documents, "
          f"{sum(len(d.truth) for d in docs)} labeled values, {sum(len(d.decoys) for d in docs)} decoys")
    if analyzer is None:
        print("\nPresidio: not installed (pip install -r bench/requirements-pii.txt); cpragate only.")
    else:
        print("\nPresidio: presidio-analyzer with a blank spaCy pipeline (no NER model can be downloaded here), "
              "pattern recognizers only, score >= 0.4, one call per string value.")

    c_preds = [cpragate_predict(engine, d) for d in docs]
    c_counts, c_decoy, n_decoys = score(docs, c_preds)
    p_counts = None
    p_decoy = None
    pdocs = docs[: (20 if a.quick else 400)]
    if analyzer is not None:
        p_preds = [presidio_predict(analyzer, d) for d in pdocs]
        p_counts, p_decoy, _ = score(pdocs, p_preds)
    print_table("Accuracy (cpragate on all documents" + (f"; Presidio on the first {len(pdocs)})" if analyzer else ")"), c_counts, p_counts)
    print(f"\nDecoys flagged: cpragate {c_decoy:.2%} of {n_decoys}" + (f"; Presidio {p_decoy:.2%}" if p_decoy is not None else ""))

    # ---------------------------------------------------------------- speed
    t = 0.3 if a.quick else 3.0
    kb1 = speed_docs(docs, 1024)
    kb64 = speed_docs(docs, 64 * 1024)[:8] or [orjson.dumps({"data": [d.body for d in docs]})]
    print("\n### Speed (CPU time, one core)\n")
    print("| payload | docs | avg bytes | cpragate scan MB/s | cpragate process MB/s | Presidio MB/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    rules = ActionRules(default=Action.MASK)
    for label, payloads in (("1 KB", kb1[:300]), ("64 KB", kb64)):
        scan = throughput(engine.scan_json, payloads, t)
        proc = throughput(lambda p: engine.process_json(p, rules), payloads, t)
        pres = "n/a"
        ratio = "n/a"
        if analyzer is not None:
            sample = payloads[: (3 if label == "1 KB" else 1)]

            def run_presidio(p: bytes) -> None:
                strings: list[tuple[str, str]] = []
                _strings(orjson.loads(p), None, strings)
                for _path, text in strings:
                    analyzer.analyze(text=text, language="en", score_threshold=0.4)

            pm = throughput(run_presidio, sample, 0.5 if a.quick else 2.0)
            pres = f"{pm:.3f}"
            ratio = f"{scan / pm:.0f}x"
        avg = sum(len(p) for p in payloads) // max(len(payloads), 1)
        print(f"| {label} | {len(payloads)} | {avg} | {scan:.1f} | {proc:.1f} | {pres} | {ratio} |")
    one_kb = kb1[:300]
    reps = 0
    start = time.process_time()
    while time.process_time() - start < t:
        for p in one_kb:
            engine.process_json(p, rules)
        reps += 1
    el = time.process_time() - start
    per_kb = el / (reps * sum(len(p) for p in one_kb) / 1024) * 1e6
    print(f"\nparse + detect + mask + re-serialize: {per_kb:.1f} CPU-us per KB (process_json, mask all), "
          f"{el / (reps * len(one_kb)) * 1e6:.1f} us per document of {sum(len(p) for p in one_kb) // len(one_kb)} bytes")


if __name__ == "__main__":
    main()
