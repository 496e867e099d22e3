"""Write the contract's generated files: JSON Schemas, test vectors, the agreement roster, the
category taxonomy and the reason codes.

    python tools/export_contract.py          # rewrite schemas/json, vectors, roster, taxonomy, reasons
    python tools/export_contract.py --check  # exit 1 if any committed file has drifted

A test runs the --check form, so the committed files always match the types.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from schemas import (
    ACK_REASONS,
    CANCEL_REASONS,
    CATEGORIES,
    DECLINE_REASONS,
    REJECTION_REASONS,
    ROSTER,
    contract_vectors,
    json_schemas,
)

ROOT = Path(__file__).resolve().parent.parent / "schemas"


def generated() -> dict[Path, str]:
    files: dict[Path, Any] = {}
    for stem, schema in json_schemas().items():
        files[ROOT / "json" / f"{stem}.json"] = schema
    for name, vector in contract_vectors().items():
        files[ROOT / "vectors" / f"{name}.json"] = vector
    files[ROOT / "roster.json"] = {k: msgspec.to_builtins(v) for k, v in sorted(ROSTER.items())}
    files[ROOT / "taxonomy.json"] = sorted(CATEGORIES)
    files[ROOT / "reasons.json"] = {
        "order_rejection": REJECTION_REASONS,
        "cancel_answer": CANCEL_REASONS,
        "countersignature_ack": ACK_REASONS,
        "decline": DECLINE_REASONS,
    }
    return {p: json.dumps(v, indent=2, sort_keys=False) + "\n" for p, v in files.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = ap.parse_args(argv)
    want = generated()
    drift = [p for p, text in want.items() if not p.exists() or p.read_text() != text]
    for folder in (ROOT / "json", ROOT / "vectors"):
        drift += [p for p in folder.glob("*.json") if p not in want]
    if args.check:
        for p in drift:
            print(f"drifted: {p.relative_to(ROOT.parent)}", file=sys.stderr)
        if drift:
            print("run `make schemas` and commit the result", file=sys.stderr)
        return 1 if drift else 0
    for p, text in want.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for p in drift:
        if p not in want:
            p.unlink()
    print(f"wrote {len(want)} files under {ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
