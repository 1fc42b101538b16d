"""The seams hold: imports go one way, backward rules use only the Ctx contract, override keys are
checked. These read the source (ast), so a violation names the file and line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import backprop as bp
from backprop import backends, registry

ROOT = Path(__file__).resolve().parents[1]

# the README's direction: backends <- registry <- ops <- autograd <- tensor <- nn <- optim <- lm/cli;
# a module may import from its own layer or below, never above (and never in a cycle)
LAYERS: list[tuple[str, int]] = [
    ("backprop.backends", 0),
    ("backprop.dtypes", 0),
    ("backprop.data", 0),  # text, vocab and windows: NumPy only
    ("backprop.size", 0),  # bp.Size, the shape tuple
    ("backprop.runtime", 0),  # threads, print options, recorded flags
    ("backprop.devices", 1),
    ("backprop.registry", 1),
    ("backprop.cuda", 1),
    ("backprop.ops", 2),
    ("backprop.autograd", 3),
    ("backprop.methods", 4),
    ("backprop.tensor", 5),
    ("backprop.creation", 6),
    ("backprop.functions", 6),
    ("backprop.special", 6),  # torch.special's names over functions
    ("backprop.legacy", 6),  # torch.FloatTensor & co.
    ("backprop.windows", 6),  # hann_window & co.
    ("backprop.jit", 0),  # torch.jit's names as pass-throughs
    ("backprop.testing", 6),  # torch.testing.assert_close
    ("backprop.linalg", 6),  # torch.linalg: compositions of the ops/linalg decompositions
    ("backprop.compile", 6),  # step capture: records through autograd.trace, replays on Tensors
    ("backprop.serialization", 6),  # save/load: pickles of tensors
    ("backprop._torch_format", 6),  # torch.save's zip and legacy formats, read and written for save/load
    ("backprop.amp", 6),  # autocast (its policy core is autograd.autocast_state) and GradScaler
    ("backprop.profiler", 6),  # torch.profiler: schedules and trace handlers over autograd.profiler's op timing
    ("backprop._copies", 6),  # *_copy variants and top-level in-place functions
    ("backprop._foreach", 6),  # torch._foreach_*: list ops over Tensor methods and linalg.vector_norm
    ("backprop._extras", 6),  # constants, removed/deprecated names, global switches
    ("backprop._numeric", 6),  # gradient, histogramdd, frombuffer, lowrank, binomial
    ("backprop._out", 6),  # torch's out= keyword: one wrapper over the top-level functions
    ("backprop._nn_aliases", 7),  # ATen-signature nn functions over nn.functional
    ("backprop.random", 6),  # torch.random
    ("backprop.accelerator", 1),  # torch.accelerator: the device-agnostic face of bp.cuda
    ("backprop.compiler", 7),  # torch.compiler: no-op graph controls; compile is bp.compile (nn.compiled)
    ("backprop._dynamo", 7),  # torch._dynamo: reset() and friends, from backprop.compiler
    ("backprop._C", 8),  # torch._C: the names user code reaches into, over tensor/creation/nn.functional
    ("backprop._inductor", 0),  # torch._inductor.config: recorded switches
    ("backprop._tensor", 6),  # torch._tensor: Tensor's other home
    ("backprop._utils", 7),  # torch._utils: the pickles' rebuild functions, over _torch_format and creation
    ("backprop.cpu", 6),  # torch.cpu (and cpu.amp's deprecated autocast over bp.amp)
    ("backprop.return_types", 6),  # torch.return_types: the named tuples the ops return
    ("backprop.functional", 0),  # torch.functional: bp.<name> looked up lazily on the package
    ("backprop.library", 6),  # torch.library: custom_op over autograd.Function
    ("backprop.quasirandom", 6),  # torch.quasirandom: SobolEngine (scipy's direction numbers)
    ("backprop._control_flow", 0),  # torch.cond, torch.while_loop (eager)
    ("backprop._native", 7),  # native_layer_norm & co.: torch's ATen return tuples over nn.functional
    ("backprop.nested", 7),  # torch.nested: jagged nested tensors (a Tensor subclass) over nn.functional
    ("backprop.masked", 7),  # torch.masked: masked reductions over functions and nn.functional
    ("backprop.types", 6),  # torch.types: type aliases over Tensor, Size, Device
    ("backprop._storage_names", 4),  # torch.UntypedStorage/TypedStorage/Storage: methods.storage's classes
    ("backprop._misc_names", 6),  # empty_permuted, get_device_module, lobpcg, segment_reduce, has_*
    ("backprop.version", 0),  # torch.version
    ("backprop._functorch", 6),  # vmap, pytrees, the vmap randomness scope (torch._functorch)
    ("backprop.func", 7),  # torch.func: grad/vjp/jvp/jacrev/hessian/vmap, functional_call (uses nn)
    ("backprop.fft", 6),  # torch.fft: transforms and complex helpers over ops/fft
    ("backprop.hub", 7),  # torch.hub: hubconf loading, cache-only weights (bp.load)
    ("backprop.multiprocessing", 0),  # torch.multiprocessing: stdlib multiprocessing + spawn
    ("backprop.mps", 0),  # torch.mps: no MPS backend
    ("backprop.mtia", 0),  # torch.mtia: no MTIA backend
    ("backprop.xpu", 0),  # torch.xpu: no XPU backend
    ("backprop.overrides", 6),  # torch.overrides: __torch_function__ helpers
    ("backprop.fx", 0),  # torch.fx.wrap (no graph capture)
    ("backprop.onnx", 0),  # torch.onnx's queries and enums (no export)
    ("backprop.__future__", 0),  # torch.__future__: Module._apply's overwrite/swap switches
    ("backprop.export", 0),  # torch.export's names: refusals (no graph export)
    ("backprop.storage", 4),  # torch.storage: methods.storage's classes and the legacy typed storages
    ("backprop.__config__", 0),  # torch.__config__: build and BLAS thread info
    ("backprop.sparse", 6),  # torch.sparse: COO tensors (a Tensor subclass) over scipy.sparse/cupyx
    ("backprop._sparse_toplevel", 6),  # sparse_coo_tensor, spmm, sparse_coo
    ("backprop.signal", 6),  # torch.signal.windows: window functions over creation and tensor ops
    ("backprop.distributed", 6),  # collectives on tensors (mpi4py/CuPy imported lazily); nn.parallel uses it
    ("backprop.futures", 0),  # torch.futures: Future, collect_all, wait_all (standard library only)
    ("backprop._tcp", 0),  # the gloo backend's sockets and stores: standard library and NumPy only
    ("backprop.run", 1),  # python -m backprop.run: torchrun's launcher (subprocesses; bp.cuda only for "gpu")
    ("backprop.distributed.elastic", 0),  # torch.distributed.elastic's @record, ChildFailedError: standard library
    ("backprop.distributed.run", 1),  # python -m backprop.distributed.run: torch.distributed.run, i.e. backprop.run
    ("backprop.distributed.launch", 1),  # torch's deprecated launcher over backprop.run (--use-env, --local-rank)
    ("backprop.nn", 7),
    ("backprop._quantized", 6),  # quantized tensors (a Tensor subclass) and fake quantization
    ("backprop.ao", 7),  # torch.ao.quantization / ao.nn: observers, QAT, dynamic quantization (uses nn)
    ("backprop.quantization", 7),  # torch.quantization: the legacy alias of ao.quantization
    ("backprop.distributions", 7),  # torch.distributions: compositions of tensor ops (uses nn.functional)
    ("backprop.utils", 7),  # utils.data: datasets, samplers, DataLoader (tensors, creation, functions)
    ("backprop.optim", 8),
    ("backprop.distributed.optim", 8),  # torch.distributed.optim: ZeroRedundancyOptimizer wraps an optim class
    ("backprop.distributed.fsdp", 8),  # torch.distributed.fsdp: FullyShardedDataParallel over nn and collectives
    ("backprop.distributed.tensor.parallel", 8),  # torch's TP: parallel styles make nn Parameters
    ("backprop.distributed.checkpoint", 8),  # torch.distributed.checkpoint: DCP save/load, state_dict over FSDP/DDP
    ("backprop.lm", 9),
    ("backprop.cli", 10),
    ("backprop.__main__", 11),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "backends":
        parts = ["backprop", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return None if best is None else best[1]


def _imports(path: Path, module: str) -> list[tuple[str, int, bool]]:
    """(imported backprop module, line, at module level) for every import outside TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - child.level + 1] + ([base] if base else [])
                    )
                if base == "backprop" or base.startswith("backprop."):
                    # ``from pkg import name``: the submodule pkg.name when it is one (resolved later)
                    found.extend((f"{base}.{a.name}", child.lineno, top) for a in child.names)
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, top) for a in child.names if a.name.startswith("backprop."))
            visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))

    visit(tree, True)
    return found


def _sources() -> list[Path]:
    return sorted([*ROOT.joinpath("backprop").rglob("*.py"), *ROOT.joinpath("backends").glob("*.py")])


def test_imports_go_one_way() -> None:
    upward = []
    for path in _sources():
        module = _module_name(path)
        if module == "backprop":
            continue  # the package's own __init__ re-exports everything
        mine = _layer(module)
        assert mine is not None, f"{module} has no layer in LAYERS (tests/test_architecture.py): add it"
        for target, line, _ in _imports(path, module):
            theirs = _layer(target if _layer(target) is not None else target.rpartition(".")[0])
            if theirs is not None and theirs > mine:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {module} (layer {mine}) imports {target} ({theirs})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for path in _sources():
        module = _module_name(path)
        graph[module] = {t for t, _, top in _imports(path, module) if top and t != module}
    modules = set(graph)

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges = {m: {r for t in ts if (r := resolve(t)) and r != m and r != "backprop"} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                dfs(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            dfs(m)


CTX_CONTRACT = {
    "saved",
    "aux",
    "attrs",
    "needs_input_grad",
    "input_shapes",
    "xp",
    "create_graph",
    "aux_consumable",
    "gy_consumable",
    "call",
    "array_xp",
    "graph_input",
}


def test_backward_rules_use_only_the_ctx_contract() -> None:
    """Every ``ctx.<name>`` in ops and backend kernels is part of ``registry.Ctx``."""
    declared = {n for n in vars(registry.Ctx) if not n.startswith("_")}
    assert declared == CTX_CONTRACT, f"registry.Ctx changed: {sorted(declared)}; update this test and CONTRIBUTING.md"
    bad = []
    paths = [*ROOT.joinpath("backprop", "ops").glob("*.py"), *ROOT.joinpath("backends").glob("*_kernels.py")]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ctx":
                if node.attr not in CTX_CONTRACT:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: ctx.{node.attr}")
    assert not bad, "backward rules reading outside the Ctx contract:\n" + "\n".join(bad)


def test_no_rule_restates_a_forward_default() -> None:
    bad = []
    for path in ROOT.joinpath("backprop", "ops").glob("*.py"):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"ctx\.attrs\.get\(", line):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, "use ctx.attrs[name]: defaults are bound at registration\n" + "\n".join(bad)


def test_attrs_fill_in_declared_defaults() -> None:
    x = bp.tensor([[1.0, -2.0]], requires_grad=True)
    y = bp.nn.functional.leaky_relu(x)  # negative_slope not passed: the default comes from the op
    assert y.grad_fn.attrs["negative_slope"] == 0.01
    assert registry.get("sum").defaults == {"axis": None, "keepdims": False}


def test_ufunc_ops_have_no_dead_forward_body() -> None:
    for name in registry.list_ops():
        op = registry.get(name)
        if op.ufunc is not None and name != "matmul":  # matmul rounds ml_dtypes' float32 bfloat16 product
            if registry._F16 is not None and name in registry._SCALAR_IN_FLOAT32:
                continue  # float16 was used in this process: mul/div read scalars in float32 (test_float16)
            if registry._COMPLEX_SEEN[0] and name in registry._REAL_ONLY:
                continue  # a complex array was made in this process: lt, floor, ... check for it (registry)
            if registry._BF16 is not None and name == "where":
                continue  # bfloat16 was used in this process: where keeps a bfloat16 operand's dtype (registry)
            if registry._FLOAT8_SEEN[0]:
                continue  # a float8 array was made in this process: the ops gain torch's float8 refusal (registry)
            assert op.kernel(bp.device("cpu").backend) is getattr(bp.device("cpu").xp, op.ufunc), name


class _TypoBackend(backends.NumpyBackend):
    name = "typo"
    device_type = "typo_dev"

    def overrides(self) -> dict:
        return {"sigmiod": lambda xp, x: x}  # a typo: must fail loudly, not silently do nothing


def test_override_keys_are_validated() -> None:
    backend = backends.register_backend(_TypoBackend())
    try:
        with pytest.raises(ValueError, match=r"unknown kernel\(s\) \['sigmiod'\]"):
            registry.backend_overrides(backend)
    finally:
        backends.unregister_backend("typo_dev")
        registry.clear_kernel_cache()
    assert isinstance(backend, backends.Backend)


def test_builtin_override_keys_are_valid() -> None:
    from backprop.backends import numpy_kernels

    for key in numpy_kernels.OVERRIDES:
        base = key.removesuffix(".backward")
        assert base in registry.list_ops() or key in registry.EXTRA_KERNELS, key
    cupy_src = ROOT.joinpath("backends", "cupy_kernels.py").read_text(encoding="utf-8")
    table = cupy_src.split("OVERRIDES: dict[str, Any] = {")[1].split("}")[0]
    for key in re.findall(r'"([\w.]+)":', table):
        base = key.removesuffix(".backward")
        assert base in registry.list_ops() or key in registry.EXTRA_KERNELS, f"cupy_kernels.OVERRIDES: {key}"


def test_hot_classes_keep_the_fast_attribute_path() -> None:
    """Tensor, Node and AccumulateGrad define no ``__getattr__``/``__getattribute__``: either sends every
    attribute read through CPython's slow path (no LOAD_ATTR specialisation; backward ran 15% slower)."""
    from backprop.autograd.function import AccumulateGrad, Node
    from backprop.tensor import Tensor

    for cls in (Tensor, Node, AccumulateGrad):
        slow = [
            f"{k.__qualname__}.{hook}"
            for k in cls.__mro__
            if k is not object
            for hook in ("__getattr__", "__getattribute__")
            if hook in k.__dict__
        ]
        assert not slow, f"{cls.__name__} takes the slow attribute path through {slow}"
