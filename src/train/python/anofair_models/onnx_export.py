"""ONNX export that behaves the same on torch 1.13 (Debian) and torch 2.x, plus recorded checks.

A check is a fixed input, defined by a formula that the Node tests can rebuild exactly, and a sample of the
expected outputs computed by PyTorch at export time; onnxruntime-node must reproduce them within tolerance.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

OPSET = 17
ONNX_DTYPES = {1: "float32", 6: "int32", 7: "int64", 10: "float16", 11: "float64", 9: "bool"}


def sine_fill(shape: list[int], a: float, b: float, freq: float, phase: float) -> np.ndarray:
    """value[i] = a + b * sin(freq * i + phase) over the flat C-order index, computed in float64 then float32."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.float64)
    return (a + b * np.sin(freq * i + phase)).astype(np.float32).reshape(shape)


def make_input(spec: dict[str, Any]) -> torch.Tensor:
    fill = spec["fill"]
    if fill["kind"] == "sine":
        arr = sine_fill(spec["shape"], fill["a"], fill["b"], fill["freq"], fill["phase"])
        return torch.from_numpy(arr)
    if fill["kind"] == "values":
        dtype = {"int64": np.int64, "float32": np.float32}[spec["dtype"]]
        return torch.from_numpy(np.asarray(fill["values"], dtype=dtype).reshape(spec["shape"]))
    raise ValueError(f"unknown fill kind {fill['kind']}")


def export(
    model: torch.nn.Module,
    path: Path,
    example_inputs: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    keep_parameter_names: bool = False,
) -> None:
    """Export on CPU with the TorchScript-based exporter (torch 2.x defaults to dynamo: ask for the classic one).
    keep_parameter_names leaves weights as named initializers (no constant folding), so that adapters such as
    LoRA can find e.g. `text_model.encoder.layers.0.self_attn.q_proj.weight` in the graph."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    kwargs: dict[str, Any] = dict(
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        opset_version=OPSET,
        do_constant_folding=not keep_parameter_names,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(model, tuple(t.cpu() for t in example_inputs), str(path), **kwargs)
    onnx.checker.check_model(onnx.load(str(path)))


def describe_io(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Inputs and outputs as the ONNX graph declares them: name, dtype, shape (named dims as strings)."""
    graph = onnx.load(str(path)).graph
    initializers = {init.name for init in graph.initializer}

    def one(value: Any) -> dict[str, Any]:
        t = value.type.tensor_type
        dims = [d.dim_param if d.dim_param else int(d.dim_value) for d in t.shape.dim]
        return {"name": value.name, "dtype": ONNX_DTYPES.get(t.elem_type, str(t.elem_type)), "shape": dims}

    return [one(v) for v in graph.input if v.name not in initializers], [one(v) for v in graph.output]


def record_check(
    model: torch.nn.Module,
    input_specs: list[dict[str, Any]],
    output_names: list[str],
    samples: int = 24,
    atol: float = 2e-3,
    rtol: float = 2e-3,
) -> dict[str, Any]:
    """Run the PyTorch model on CPU on the formula inputs and keep a spread of output values as the expectation."""
    model = model.eval().cpu()
    inputs = [make_input(s) for s in input_specs]
    with torch.no_grad():
        result = model(*inputs)
    if isinstance(result, torch.Tensor):
        result = (result,)
    outputs: dict[str, Any] = {}
    for name, tensor in zip(output_names, result):
        flat = tensor.detach().cpu().double().reshape(-1).numpy()
        idx = np.unique(np.linspace(0, len(flat) - 1, samples).round().astype(int).tolist() + [int(np.argmax(flat))])
        outputs[name] = {
            "shape": list(tensor.shape),
            "samples": [[int(i), float(flat[i])] for i in idx],
            "mean": float(flat.mean()),
            "mean_abs": float(np.abs(flat).mean()),
        }
    return {"inputs": input_specs, "outputs": outputs, "atol": atol, "rtol": rtol}


def sine_input(name: str, shape: list[int], a: float = 0.5, b: float = 0.45, freq: float = 0.0137, phase: float = 0.3) -> dict[str, Any]:
    return {"name": name, "dtype": "float32", "shape": shape, "fill": {"kind": "sine", "a": a, "b": b, "freq": freq, "phase": phase}}


def values_input(name: str, dtype: str, shape: list[int], values: list[float] | list[int]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape, "fill": {"kind": "values", "values": list(values)}}


def declare_output_shape(path: Path, name: str, dims: list[int | str]) -> None:
    """Write fixed sizes into an output's declared shape where the exporter left symbolic names (ultralytics
    exports declare output0 as [batch, 4 + nc, anchors] with numbers)."""
    model = onnx.load(str(path))
    for out in model.graph.output:
        if out.name != name:
            continue
        shape = out.type.tensor_type.shape
        for d, want in zip(shape.dim, dims):
            if isinstance(want, int):
                d.Clear()
                d.dim_value = want
            else:
                d.Clear()
                d.dim_param = want
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
