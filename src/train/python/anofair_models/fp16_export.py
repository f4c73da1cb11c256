"""An fp32 ONNX export -> an fp16 export, seen from outside the way real fp16 exports are (optimum --fp16,
ultralytics half=True): every float32 initializer stored as float16 (half the bytes), every float32 graph input and
output declared float16. Inside, the compute stays float32 so that onnxruntime's CPU provider (which has few float16
kernels) still runs it: a Cast to float32 after every weight and float input, a Cast to float16 before every float
output. Integer inputs (input_ids, an int64 timestep) are left as they are.

Only Debian's python3-onnx and numpy (no onnxconverter-common, no torch import):

    python3 -m anofair_models.fp16_export SRC OUT      # SRC a .onnx file or a model folder (every *.onnx in it)

A folder is copied whole (configs, tokenizer, ...); our manifest.json, where present, is rewritten: the converted
inputs/outputs declared float16, "precision": "float16", the recorded checks' tolerances widened to what float16
weights allow (CHECK_TOLERANCE), and the sha256 table of the new files.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .file_hash import sha256_file

FP16_MAX = 65504.0
# recorded checks are PyTorch fp32 outputs: float16 weights and I/O move the demo models' by at most ~5e-4 of
# (1 + |value|); the tolerance leaves a margin for other models (weights rounded to 11 significant bits)
CHECK_TOLERANCE = 0.01
# protobuf's limit: bigger models keep their weights in one external data file, as optimum does
EXTERNAL_DATA_BYTES = 1_800_000_000
EXTERNAL_DATA_NAME = "model.onnx_data"


class Names:
    """Fresh tensor/node names that do not clash with any name in the model."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.used: set[str] = set()
        for g in _graphs(graph):
            self.used.update(i.name for i in g.input)
            self.used.update(o.name for o in g.output)
            self.used.update(i.name for i in g.initializer)
            for n in g.node:
                self.used.update(n.output)
                self.used.add(n.name)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


def _graphs(graph: onnx.GraphProto) -> Iterable[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def _rename_inputs(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    """Point every consumer (subgraphs included, unless they shadow the name) at the renamed tensor."""
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in mapping:
                node.input[k] = mapping[name]
        for attr in node.attribute:
            subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs) if attr.type == onnx.AttributeProto.GRAPHS else []
            for sub in subs:
                local = {i.name for i in sub.input} | {i.name for i in sub.initializer} | {o for n in sub.node for o in n.output}
                _rename_inputs(sub, {a: b for a, b in mapping.items() if a not in local})


def _is_float(value: onnx.ValueInfoProto) -> bool:
    return value.type.HasField("tensor_type") and value.type.tensor_type.elem_type == TensorProto.FLOAT


def convert_model(model: onnx.ModelProto) -> dict[str, Any]:
    """Converts in place; returns what changed (names of the float16 inputs/outputs, weights converted, clipped)."""
    graph = model.graph
    names = Names(graph)
    init_names = {i.name for i in graph.initializer}
    to_fp32: dict[str, str] = {}  # an fp16 tensor -> the float32 copy its consumers now read
    front: list[onnx.NodeProto] = []
    weights = clipped = 0

    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        clipped += int(np.count_nonzero(np.abs(arr) > FP16_MAX))
        half = numpy_helper.from_array(np.clip(arr, -FP16_MAX, FP16_MAX).astype(np.float16), init.name)
        doc = init.doc_string
        init.CopyFrom(half)
        init.doc_string = doc
        to_fp32[init.name] = names.fresh(f"{init.name}_fp32")
        weights += 1

    inputs: list[str] = []
    for value in graph.input:
        if not _is_float(value):
            continue
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
        inputs.append(value.name)
        if value.name not in init_names:  # an overridable initializer already has its Cast
            to_fp32[value.name] = names.fresh(f"{value.name}_fp32")

    for src, dst in to_fp32.items():
        front.append(helper.make_node("Cast", [src], [dst], to=TensorProto.FLOAT, name=names.fresh(f"Cast_{dst}")))
    _rename_inputs(graph, to_fp32)

    outputs: list[str] = []
    back: list[onnx.NodeProto] = []
    graph_inputs = {v.name for v in graph.input} | init_names
    for value in graph.output:
        if not _is_float(value):
            continue
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
        outputs.append(value.name)
        if value.name in graph_inputs:
            continue  # passed straight through: already float16
        internal = names.fresh(f"{value.name}_fp32")
        for node in graph.node:
            for k, name in enumerate(node.output):
                if name == value.name:
                    node.output[k] = internal
        _rename_inputs(graph, {value.name: internal})
        for info in graph.value_info:
            if info.name == value.name:
                info.name = internal
        back.append(helper.make_node("Cast", [internal], [value.name], to=TensorProto.FLOAT16, name=names.fresh(f"Cast_{value.name}")))

    nodes = front + list(graph.node) + back
    del graph.node[:]
    graph.node.extend(nodes)
    return {"float16_inputs": inputs, "float16_outputs": outputs, "float16_weights": weights, "clipped_weights": clipped}


def _external_locations(model: onnx.ModelProto) -> set[str]:
    out = set()
    for g in _graphs(model.graph):
        for t in g.initializer:
            if t.data_location == TensorProto.EXTERNAL:
                out.update(e.value for e in t.external_data if e.key == "location")
    return out


def convert_file(src: Path, dst: Path) -> dict[str, Any]:
    model = onnx.load(str(src), load_external_data=True)
    info = convert_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    weight_bytes = sum(len(t.raw_data) for g in _graphs(model.graph) for t in g.initializer)
    if weight_bytes > EXTERNAL_DATA_BYTES:
        onnx.save_model(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True, location=EXTERNAL_DATA_NAME, size_threshold=1024)
        onnx.checker.check_model(str(dst))
    else:
        onnx.checker.check_model(model)
        onnx.save_model(model, str(dst))
    return info


def _rewrite_manifest(folder: Path, converted: dict[str, dict[str, Any]]) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text("utf8"))
    for component in manifest.get("models", []):
        info = converted.get(component.get("file"))
        if not info:
            continue
        for value in component.get("inputs", []):
            if value["name"] in info["float16_inputs"]:
                value["dtype"] = "float16"
        for value in component.get("outputs", []):
            if value["name"] in info["float16_outputs"]:
                value["dtype"] = "float16"
        for check in component.get("checks", []):
            check["atol"] = max(check.get("atol", 0), CHECK_TOLERANCE)
            check["rtol"] = max(check.get("rtol", 0), CHECK_TOLERANCE)
    manifest["precision"] = "float16"
    manifest["fp16_export"] = {
        "tool": "anofair_models.fp16_export",
        "weights": "float32 initializers stored as float16 (clipped to +-65504)",
        "io": "float32 graph inputs and outputs declared float16; integer inputs unchanged",
        "compute": "float32 (Cast after each weight and input, before each output), so the CPU provider runs it",
        "check_tolerance": CHECK_TOLERANCE,
        "components": converted,
    }
    files = {}
    for p in sorted(q for q in folder.rglob("*") if q.is_file() and q.name != "manifest.json"):
        files[p.relative_to(folder).as_posix()] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    manifest["files"] = files
    path.write_text(json.dumps(manifest, indent=2) + "\n", "utf8")


def convert_folder(src: Path, out: Path) -> dict[str, dict[str, Any]]:
    models = sorted(p for p in src.rglob("*.onnx") if p.is_file())
    if not models:
        raise SystemExit(f"{src}: no .onnx file to convert")
    skip = {p for p in models}
    for p in models:
        for loc in _external_locations(onnx.load(str(p), load_external_data=False)):
            skip.add((p.parent / loc).resolve())
    skip = {p.resolve() for p in skip}
    out.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.rglob("*")):
        if p.is_file() and p.resolve() not in skip:
            (out / p.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, out / p.relative_to(src))
    converted = {}
    for p in models:
        rel = p.relative_to(src).as_posix()
        converted[rel] = convert_file(p, out / rel)
    if (out / "manifest.json").exists():
        _rewrite_manifest(out, converted)
    return converted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m anofair_models.fp16_export", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="an fp32 .onnx file or a model folder")
    ap.add_argument("out", type=Path, help="the fp16 .onnx file or folder to write (must not exist)")
    args = ap.parse_args(argv)
    if not args.src.exists():
        print(f"{args.src}: not found", file=sys.stderr)
        return 2
    if args.out.exists():
        print(f"{args.out}: exists; give a new path", file=sys.stderr)
        return 2
    result = convert_folder(args.src, args.out) if args.src.is_dir() else {args.src.name: convert_file(args.src, args.out)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
