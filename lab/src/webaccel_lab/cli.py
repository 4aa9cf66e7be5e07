"""The host command line: ``webaccel doctor``, ``serve``, ``embed``, ``bench`` and ``footprint``
(``python -m webaccel_lab``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import webaccel
from webaccel.device import backend_names
from webaccel_pages.benchmarks.chart import ratio_svg

from . import doctor, embed, footprint, lab
from .benchmarks import runner, soak_runner, store_runner, verify_runner
from .serve import make_server


def cmd_doctor(args: argparse.Namespace) -> int:
    reports = doctor.run_doctor(args.lane or list(lab.LANES))
    print(json.dumps(reports, indent=2) if args.json else doctor.format_table(reports))
    return 1 if any(doctor.failed(r) for r in reports) else 0


def cmd_serve(args: argparse.Namespace) -> int:
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
    if args.target == "verify":  # default lane pyodide-0.27: verify needs NumPy in the page
        lane = args.lane or verify_runner.DEFAULT_LANE
        result = verify_runner.run_verify(
            lane, None, args.timeout, device=args.device, cases=args.cases
        )
        print(json.dumps(result, indent=2) if args.json else verify_runner.format_table(result))
        return 0 if verify_runner.complete(result) else 1
    if args.lane is None:
        args.lane = "headless-shell" if args.target in ("bert", "soak") else "chromium"
    if args.target == "soak":
        soak_config = soak_runner.page_config(
            encodes=args.encodes,
            loads=args.loads,
            device=args.device,
            sample_every=args.sample_every,
        )
        result = soak_runner.run_soak(args.lane, soak_config, args.timeout)
        print(json.dumps(result, indent=2) if args.json else soak_runner.format_table(result))
        return 0 if soak_runner.complete(result) else 1

    if args.target == "store":
        result = store_runner.run_store(args.lane, None, args.timeout)
        print(json.dumps(result, indent=2) if args.json else store_runner.format_table(result))
        return 0 if store_runner.complete(result) else 1
    if args.target == "bert":
        config: dict[str, Any] = {}
        if args.cases:
            config["cases"] = args.cases
        result = runner.run_bert(args.lane, config, args.timeout)
        if args.chart:
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
    backends = args.backend or list(backend_names())
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


def cmd_footprint(args: argparse.Namespace) -> int:
    result = footprint.measure(
        args.lane,
        wheel=Path(args.wheel) if args.wheel else None,
        pages_wheel=Path(args.pages_wheel) if args.pages_wheel else None,
        loads=args.loads,
        timeout=args.timeout,
    )
    print(json.dumps(result, indent=2) if args.json else footprint.format_text(result))
    return 0


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


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"a non-negative integer, not {text!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webaccel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"webaccel {webaccel.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    doctor_cmd = sub.add_parser("doctor", help="run detect() in each lane's headless browser")
    doctor_cmd.add_argument(
        "--json", action="store_true", help="print a JSON list, one object per lane"
    )
    doctor_cmd.add_argument(
        "--lane",
        action="append",
        choices=list(lab.LANES),
        help="only this lane (repeatable); default: all",
    )
    doctor_cmd.set_defaults(func=cmd_doctor)

    serve_cmd = sub.add_parser(
        "serve", help="serve the static page with a local Pyodide and the wheel"
    )
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument(
        "--pyodide",
        choices=("local", "cdn"),
        default="local",
        help="load Pyodide from the lab (local) or from its CDN",
    )
    serve_cmd.add_argument(
        "--version",
        default=lab.PYODIDE_VERSIONS[0],
        dest="version",
        choices=lab.PYODIDE_VERSIONS,
        help="Pyodide version the page loads",
    )
    serve_cmd.set_defaults(func=cmd_serve)

    embed_cmd = sub.add_parser(
        "embed",
        help="sentence embeddings (all-MiniLM-L6-v2) and their similarities on each backend",
    )
    embed_cmd.add_argument("sentences", nargs="+", help="the sentences to embed")
    embed_cmd.add_argument(
        "--backend",
        action="append",
        choices=(*backend_names(), "auto"),
        help="repeatable; default every backend of the table (webnn, webgpu: in the lane's "
        "browser; cpu: on this CPython unless the lane's Pyodide has NumPy)",
    )
    embed_cmd.add_argument("--lane", default="headless-shell", choices=lab.BROWSER_LANES)
    embed_cmd.add_argument("--json", action="store_true", help="print the results as JSON")
    embed_cmd.add_argument("--quantize", choices=("int8", "int4"), default=None)
    embed_cmd.add_argument("--repeat", type=int, default=3, help="timed encodes after the first")
    embed_cmd.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for the page"
    )
    embed_cmd.set_defaults(func=cmd_embed)

    bench_cmd = sub.add_parser("bench", help="benchmarks in a lane's browser (against TF.js)")
    bench_cmd.add_argument(
        "target",
        choices=("ops", "bert", "store", "soak", "verify"),
        help="ops: matmul, conv2d, overhead per op; bert: all-MiniLM-L6-v2 vs onnxruntime-web; "
        "store: model store save/load MB/s vs raw IndexedDB, weight sharing; "
        "soak: device memory, JS heap and storages before/after thousands of encodes and loads; "
        "verify: what webaccel.verify costs on all-MiniLM-L6-v2 (lane pyodide-0.27)",
    )
    bench_cmd.add_argument(
        "--lane",
        default=None,
        choices=lab.BROWSER_LANES,
        help="default: chromium for ops and store, headless-shell (WebNN and WebGPU) for bert "
        "and soak",
    )
    bench_cmd.add_argument(
        "--cases",
        type=_cases,
        default=None,
        help="bert: SEQxBATCH,... (default 16x1,16x8,128x1,128x8)",
    )
    bench_cmd.add_argument("--chart", default=None, help="bert: write the SVG chart to this file")
    bench_cmd.add_argument("--json", action="store_true", help="print the results as JSON")
    bench_cmd.add_argument(
        "--sizes", type=_sizes, default=None, help="matmul sizes, e.g. 256,512,1024 (the default)"
    )
    bench_cmd.add_argument(
        "--device", default=None, help="webaccel's device (default: webgpu; soak: webnn)"
    )
    bench_cmd.add_argument("--encodes", type=_count, default=None, help="soak: encodes (2000)")
    bench_cmd.add_argument(
        "--loads", type=_count, default=None, help="soak: model loads/unloads (100)"
    )
    bench_cmd.add_argument(
        "--sample-every",
        type=_count,
        default=None,
        help="soak: a point of the curve every N encodes (100)",
    )
    bench_cmd.add_argument(
        "--backend",
        choices=("webgpu", "webnn"),
        default=None,
        help="webnn: ops and a transformer block on WebNN vs WebGPU vs CPU, and the captured "
        "block vs plain-JS WebNN (headless-shell lane)",
    )
    bench_cmd.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for the page"
    )
    bench_cmd.set_defaults(func=cmd_bench)

    foot_cmd = sub.add_parser(
        "footprint",
        help="the runtime wheel's size and the cold `import webaccel` time in a lane's Pyodide",
    )
    foot_cmd.add_argument("--lane", default="headless-shell", choices=lab.BROWSER_LANES)
    foot_cmd.add_argument(
        "--wheel", default=None, help="measure this runtime wheel (default: built from here)"
    )
    foot_cmd.add_argument(
        "--pages-wheel",
        default=None,
        help="report this pages wheel's size (default: built from here unless --wheel is given)",
    )
    foot_cmd.add_argument(
        "--loads", type=int, default=5, help="fresh page loads; the import time is their median"
    )
    foot_cmd.add_argument("--json", action="store_true", help="print the results as JSON")
    foot_cmd.add_argument("--timeout", type=float, default=300.0, help="seconds to wait per load")
    foot_cmd.set_defaults(func=cmd_footprint)
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
