"""The host command line: ``webaccel doctor``, ``serve`` and ``bench`` (``python -m webaccel``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import __version__, lab


def _cell_webgpu(report: dict[str, Any]) -> str:
    gpu = report.get("webgpu") or {}
    if not gpu.get("available"):
        return "no"
    fallback = " (fallback)" if gpu.get("is_fallback") else ""
    return f"{gpu.get('vendor')}/{gpu.get('architecture')}{fallback}"


def _cell_webnn(report: dict[str, Any]) -> str:
    nn = report.get("webnn") or {}
    if not nn.get("available"):
        return "no"
    return f"{nn.get('op_count')} ops, {nn.get('preferred_layout')}"


def format_table(reports: list[dict[str, Any]]) -> str:
    """The doctor's table for people: one row per lane, then each lane's verdict."""
    header = ("lane", "pyodide", "python", "jspi", "numpy", "webgpu", "webnn", "idb", "tier")
    rows = [header]
    for r in reports:
        if "error" in r and "tier" not in r:
            rows.append((r["lane"], "-", "-", "-", "-", "-", "-", "-", "FAILED"))
            continue
        rows.append(
            (
                r["lane"],
                r.get("pyodide") or "-",
                r.get("python") or "-",
                "yes" if r.get("jspi") else "no",
                r.get("numpy") or "no",
                _cell_webgpu(r),
                _cell_webnn(r),
                "yes" if (r.get("storage") or {}).get("indexeddb") else "no",
                r.get("tier") or "-",
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    for r in reports:
        lane = lab.LANES[r["lane"]]
        problems = (
            [r["error"]] if "error" in r and "tier" not in r else lab.unmet_requirements(lane, r)
        )
        verdict = "ok" if not problems else "MISSING " + "; ".join(problems)
        lines.append(f"{r['lane']:<15} needs {', '.join(lane.requires) or 'nothing'}: {verdict}")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    names = args.lane or list(lab.LANES)
    reports = []
    needs_server = any(lab.LANES[n].browser for n in names)
    from .serve import serving

    ctx = serving() if needs_server else None
    base_url = ctx.__enter__() if ctx else None
    try:
        for name in names:
            lane = lab.LANES[name]
            try:
                reports.append(lab.detect_in_lane(lane, base_url))
            except Exception as exc:  # a lane that cannot run is reported, and fails the doctor
                reports.append({"lane": name, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        if ctx:
            ctx.__exit__(None, None, None)
    if args.json:
        print(json.dumps(reports, indent=2))
    else:
        print(format_table(reports))
    failed = [
        r
        for r in reports
        if ("error" in r and "tier" not in r) or lab.unmet_requirements(lab.LANES[r["lane"]], r)
    ]
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import make_server

    server = make_server(args.port, pyodide_source=args.pyodide, pyodide_version=args.version)
    host, port = server.server_address[:2]
    print(
        f"serving static_site/ with Pyodide {args.version} ({args.pyodide}) at http://{host}:{port}/",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .benchmarks import runner

    if args.lane is None:
        args.lane = "headless-shell" if args.target == "bert" else "chromium"

    if args.target == "store":
        from .benchmarks import store_runner

        result = store_runner.run_store(args.lane, None, args.timeout)
        print(json.dumps(result, indent=2) if args.json else store_runner.format_table(result))
        return 0 if store_runner.complete(result) else 1
    if args.target == "bert":
        config: dict[str, Any] = {}
        if args.cases:
            config["cases"] = args.cases
        result = runner.run_bert(args.lane, config, args.timeout)
        if args.chart:
            from .benchmarks.chart import ratio_svg

            Path(args.chart).write_text(ratio_svg(result))
        print(json.dumps(result, indent=2) if args.json else runner.format_bert_table(result))
        return 0 if result["rows"] and not any("error" in r for r in result["rows"]) else 1
    if getattr(args, "backend", None) == "webnn":
        lane = args.lane
        if "webnn" not in lab.LANES[lane].requires:
            print(f"webaccel: lane {lane} has no WebNN; using headless-shell", file=sys.stderr)
            lane = "headless-shell"
        config = {"matmul": args.sizes} if args.sizes else None
        result = runner.run_webnn(lane, config, args.timeout)
        print(json.dumps(result, indent=2) if args.json else runner.format_webnn_table(result))
        return 0 if runner.complete_webnn(result) else 1
    result = runner.run_ops(args.lane, args.sizes, args.device, args.timeout)
    print(json.dumps(result, indent=2) if args.json else runner.format_table(result))
    return 0 if runner.complete(result) else 1


def cmd_embed(args: argparse.Namespace) -> int:
    from . import embed

    backends = args.backend or ["webnn", "webgpu", "cpu"]
    result = embed.run(
        args.sentences,
        backends,
        lane=args.lane,
        timeout=args.timeout,
        quantize=args.quantize,
        repeat=args.repeat,
    )
    print(json.dumps(embed.as_json(result)) if args.json else embed.format_text(result))
    return 0 if all("error" not in r for r in result["runs"]) else 1


def _cases(text: str) -> list[list[int]]:
    try:
        return [[int(n) for n in case.split("x")] for case in text.split(",") if case.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"cases: SEQxBATCH,..., not {text!r}") from None


def _sizes(text: str) -> list[int]:
    try:
        return [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes: comma-separated integers, not {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webaccel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"webaccel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser("doctor", help="run detect() in each lane's headless browser")
    doctor.add_argument(
        "--json", action="store_true", help="print a JSON list, one object per lane"
    )
    doctor.add_argument(
        "--lane",
        action="append",
        choices=list(lab.LANES),
        help="only this lane (repeatable); default: all",
    )
    doctor.set_defaults(func=cmd_doctor)

    serve = sub.add_parser("serve", help="serve the static page with a local Pyodide and the wheel")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--pyodide",
        choices=("local", "cdn"),
        default="local",
        help="load Pyodide from the lab (local) or from its CDN",
    )
    serve.add_argument(
        "--version",
        default=lab.PYODIDE_VERSIONS[0],
        dest="version",
        choices=lab.PYODIDE_VERSIONS,
        help="Pyodide version the page loads",
    )
    serve.set_defaults(func=cmd_serve)

    embed = sub.add_parser(
        "embed",
        help="sentence embeddings (all-MiniLM-L6-v2) and their similarities on each backend",
    )
    embed.add_argument("sentences", nargs="+", help="the sentences to embed")
    embed.add_argument(
        "--backend",
        action="append",
        choices=("webnn", "webgpu", "cpu", "auto"),
        help="repeatable; default webnn, webgpu (in the lane's browser) and cpu (on this "
        "CPython unless the lane's Pyodide has NumPy)",
    )
    embed.add_argument("--lane", default="headless-shell", choices=lab.BROWSER_LANES)
    embed.add_argument("--json", action="store_true", help="print the results as JSON")
    embed.add_argument("--quantize", choices=("int8", "int4"), default=None)
    embed.add_argument("--repeat", type=int, default=3, help="timed encodes after the first")
    embed.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the page")
    embed.set_defaults(func=cmd_embed)

    bench = sub.add_parser("bench", help="benchmarks in a lane's browser (against TF.js)")
    bench.add_argument(
        "target",
        choices=("ops", "bert", "store"),
        help="ops: matmul, conv2d, overhead per op; bert: all-MiniLM-L6-v2 vs onnxruntime-web; "
        "store: model store save/load MB/s vs raw IndexedDB, weight sharing",
    )
    bench.add_argument(
        "--lane",
        default=None,
        choices=lab.BROWSER_LANES,
        help="default: chromium for ops, headless-shell (WebNN and WebGPU) for bert",
    )
    bench.add_argument(
        "--cases",
        type=_cases,
        default=None,
        help="bert: SEQxBATCH,... (default 16x1,16x8,128x1,128x8)",
    )
    bench.add_argument("--chart", default=None, help="bert: write the SVG chart to this file")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument(
        "--sizes", type=_sizes, default=None, help="matmul sizes, e.g. 256,512,1024 (the default)"
    )
    bench.add_argument("--device", default=None, help="webaccel's device (default: webgpu)")
    bench.add_argument(
        "--backend",
        choices=("webgpu", "webnn"),
        default=None,
        help="webnn: ops and a transformer block on WebNN vs WebGPU vs CPU, and the captured "
        "block vs plain-JS WebNN (headless-shell lane)",
    )
    bench.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the page")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except lab.LabError as exc:
        print(f"webaccel: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
