"""`ssd export`: write a detector's network as ONNX, OpenVINO IR or TorchScript."""
from __future__ import annotations

import argparse
import sys


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export the network as ONNX, OpenVINO IR or TorchScript",
        description="Write the network of W (backbone and heads: fixed N x 3 x S x S input, raw class logits and "
                    "box offsets out) with its class names, preprocessing constants, default boxes and "
                    "postprocessing settings as metadata. The file loads back as a detector (ssd detect --weights "
                    "FILE, the app's Detect view) and `ssd info FILE` describes it.",
        epilog="examples:\n  ssd export demo --format onnx --out demo.onnx\n"
               "  ssd export model.pt --format openvino --out model_int8.xml --precision int8 --calibration frames/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", metavar="W", help="weights file (any layout `ssd info` knows)")
    p.add_argument("--format", dest="fmt", required=True, choices=("onnx", "openvino", "torchscript"),
                   help="onnx (opset 17), openvino (IR: .xml + .bin) or torchscript")
    p.add_argument("--out", required=True, help="file to write (.onnx, .xml for openvino)")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="input side in pixels (default and only valid value: the model's own)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="fixed batch size of the input (default 1)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "int8"),
                   help="int8: NNCF post-training quantization (openvino format only)")
    p.add_argument("--calibration", default=None, metavar="PATH",
                   help="int8 calibration images: an image folder, a video or a dataset (default: the model's "
                        "training data when its checkpoint records it)")
    p.add_argument("--priors", default=None, choices=("voc", "coco"), help="default boxes of a foreign file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.cli.progress import ProgressBar
    from core.runtime.export import export_model

    bars: dict[str, ProgressBar] = {}

    def show(p) -> None:  # type: ignore[no-untyped-def]
        if p.stage in ("calibration", "quantize") and p.total:
            bar = bars.setdefault(p.stage, ProgressBar(p.stage, p.total))
            bar.update(p.done - bar.n)

    try:
        out = export_model(args.weights, args.fmt, args.out, image_size=args.image_size, precision=args.precision,
                           calibration=args.calibration, batch=args.batch, priors=args.priors, on_progress=show)
    finally:
        for bar in bars.values():
            bar.close()
    print(f"wrote {out} ({args.fmt}, {args.precision})", file=sys.stderr)
    return 0
