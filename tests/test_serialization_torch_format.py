"""``bp.save`` / ``bp.load`` in torch's file format: files ``torch.save`` wrote load here (state dicts into
backprop's modules, optimizer states, every dtype, views sharing a storage), files ``bp.save`` writes load in
torch with ``weights_only=True``, and the weights-only refusal reads as torch's. The first tests need no torch:
they read a zip built by hand from the documented layout."""

from __future__ import annotations

import argparse
import io
import pickle
import struct
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp


# ------------------------------------------------------------------------------------- closed form (no torch)
def _str(s: str) -> bytes:
    return b"X" + struct.pack("<I", len(s.encode())) + s.encode()  # BINUNICODE


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()  # GLOBAL


def _tensor(storage_type: str, key: str, numel: int, offset: int, size: tuple, stride: tuple) -> bytes:
    """torch's pickle of ``_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())``."""
    ints = lambda xs: b"(" + b"".join(b"K" + bytes([x]) for x in xs) + b"t"  # noqa: E731  (MARK ints TUPLE)
    pid = b"(" + _str("storage") + _global("torch", storage_type) + _str(key) + _str("cpu") + b"K" + bytes([numel])
    args = pid + b"tQ" + b"K" + bytes([offset]) + ints(size) + ints(stride) + b"\x89"
    args += _global("collections", "OrderedDict") + b")R"
    return _global("torch._utils", "_rebuild_tensor_v2") + b"(" + args + b"tR"


def _hand_zip(records: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in records.items():
            zf.writestr(f"ckpt/{name}", data)
    buf.seek(0)
    return buf


def test_reads_a_zip_built_from_torchs_documented_layout() -> None:
    """``{"w": a 2x2 strided view of a 6-float storage from offset 1, "v": its storage whole, "h": bfloat16}``:
    the views share memory, as torch's tensors of one storage."""
    pkl = b"\x80\x02}(" + _str("w") + _tensor("FloatStorage", "0", 6, 1, (2, 2), (3, 1))
    pkl += _str("v") + _tensor("FloatStorage", "0", 6, 0, (6,), (1,))
    pkl += _str("h") + _tensor("BFloat16Storage", "1", 2, 0, (2,), (1,)) + b"u."
    data = np.arange(6, dtype="<f4").tobytes()
    buf = _hand_zip({"data.pkl": pkl, "byteorder": b"little", "data/0": data, "data/1": b"\x80\x3f\x00\x40"})
    got = bp.load(buf)
    assert got["w"].tolist() == [[1.0, 2.0], [4.0, 5.0]] and got["w"].stride() == (3, 1)
    assert got["w"].storage_offset() == 1 and got["w"].dtype == bp.float32
    assert got["h"].dtype == bp.bfloat16 and got["h"].tolist() == [1.0, 2.0]
    got["v"][2] = 20.0  # (one storage: the view sees it)
    assert got["w"].tolist() == [[1.0, 20.0], [4.0, 5.0]]
    # torch's weights-only refusal, with its message
    bad = b"\x80\x02}(" + _str("ns") + _global("argparse", "Namespace") + b")Ru."
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL argparse\.Namespace was not an allowed global"):
        bp.load(_hand_zip({"data.pkl": bad}))
    assert isinstance(bp.load(_hand_zip({"data.pkl": bad}), weights_only=False)["ns"], argparse.Namespace)


def test_round_trips_without_torch(tmp_path: Path) -> None:
    """What ``bp.save`` writes (zip, the legacy stream, a path or a buffer) loads back with its dtypes, views
    sharing memory, Parameters as Parameters; older backprop files (plain pickles) still load."""
    x = bp.arange(12.0).reshape(3, 4)
    obj = {"x": x, "col": x[:, 1], "p": bp.nn.Parameter(bp.ones(2)), "i": bp.tensor([1, 2], dtype=bp.uint32)}
    obj |= {"n": [1, "a", None, (2.5, True)], "dt": bp.bfloat16, "size": bp.Size([2, 3]), "dev": bp.device("cpu")}
    for legacy in (False, True):
        buf = io.BytesIO()
        bp.save(obj, buf, _use_new_zipfile_serialization=not legacy)
        assert buf.getvalue().startswith(b"PK\x03\x04") is not legacy
        buf.seek(0)
        got = bp.load(buf)
        assert got["x"].tolist() == x.tolist() and got["col"].tolist() == [1.0, 5.0, 9.0]
        assert got["col"].stride() == (4,) and got["col"].storage_offset() == 1
        got["x"][0, 1] = -1.0
        assert got["col"][0].item() == -1.0
        assert type(got["p"]) is bp.nn.Parameter and got["p"].requires_grad
        assert got["i"].dtype == bp.uint32 and got["n"] == [1, "a", None, (2.5, True)]
        assert got["dt"] == bp.bfloat16 and got["size"] == bp.Size([2, 3]) and got["dev"] == bp.device("cpu")
    bp.save(obj, tmp_path / "a.pt")
    assert zipfile.ZipFile(tmp_path / "a.pt").namelist()[0] == "a/data.pkl"  # (torch's folder: the file's stem)
    assert bp.load(tmp_path / "a.pt", mmap=True)["col"].tolist() == [1.0, 5.0, 9.0]
    old = io.BytesIO(pickle.dumps({"w": bp.ones(2)}, protocol=2))  # (what bp.save wrote before)
    assert bp.load(old)["w"].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------------------------------ with torch
torch = pytest.importorskip("torch", reason="the exchange with torch needs torch")

_DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16"]
_DTYPES += ["uint32", "uint64", "bool", "complex64", "complex128"]


def _through_torch(obj: Any) -> Any:
    buf = io.BytesIO()
    bp.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _from_torch(obj: Any, **kwargs: Any) -> Any:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    buf.seek(0)
    return bp.load(buf)


def _modules(lib: Any) -> dict[str, Any]:
    nn = lib.nn
    return {
        "linear": (nn.Linear(4, 3), lambda: lib.ones(2, 4) * 0.5),
        "conv": (nn.Conv2d(2, 3, 3, padding=1), lambda: lib.ones(1, 2, 5, 5) * 0.25),
        "bn": (nn.BatchNorm1d(4), lambda: lib.arange(8.0).reshape(2, 4)),
        "emb": (nn.Embedding(10, 4, padding_idx=0), lambda: lib.tensor([[1, 0, 7]])),
        "lstm": (nn.LSTM(4, 5, num_layers=2, batch_first=True), lambda: lib.ones(2, 3, 4) * 0.1),
    }


def _out(model: Any, x: Any) -> np.ndarray:
    y = model(x)
    y = y[0] if isinstance(y, tuple) else y
    return np.asarray(y.detach().numpy() if hasattr(y, "detach") else y)


@pytest.mark.parametrize("name", ["linear", "conv", "bn", "emb", "lstm"])
def test_state_dicts_move_both_ways(name: str) -> None:
    torch.manual_seed(0)
    tm, tx = _modules(torch)[name]
    bm, bx = _modules(bp)[name]
    if name == "bn":  # (running stats and num_batches_tracked that are not the defaults)
        tm.train()(torch.randn(6, 4))
        tm.eval()
        bm.eval()
    sd = _from_torch(tm.state_dict())
    assert type(sd) is OrderedDict and list(sd) == list(tm.state_dict())
    assert sd._metadata == tm.state_dict()._metadata
    for k, v in tm.state_dict().items():
        assert str(sd[k].dtype) == str(v.dtype).removeprefix("torch.") and tuple(sd[k].shape) == tuple(v.shape)
    bm.load_state_dict(sd)
    np.testing.assert_allclose(_out(bm, bx()), _out(tm, tx()), rtol=1e-5, atol=1e-6)
    # and back: torch reads our file (weights_only) into a fresh module of its own
    bp.manual_seed(1)
    fresh, _ = _modules(torch)[name]
    back = _through_torch(bm.state_dict())
    assert type(back) is OrderedDict and back._metadata == sd._metadata
    fresh.load_state_dict(back)
    if name == "bn":
        fresh.eval()
        assert back["num_batches_tracked"].dtype == torch.int64 and back["num_batches_tracked"].item() == 1
    np.testing.assert_allclose(_out(fresh, tx()), _out(tm, tx()), rtol=1e-5, atol=1e-6)


def test_optimizer_state_dicts_move_both_ways() -> None:
    """Adam after a step: int keys, nested dicts, 0-d step tensors; each side loads the other's into its Adam."""
    torch.manual_seed(0)
    tm = torch.nn.Linear(3, 2)
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    tm(torch.ones(4, 3)).sum().backward()
    topt.step()
    bm = bp.nn.Linear(3, 2)
    bm.load_state_dict(_from_torch(tm.state_dict()))
    bopt = bp.optim.Adam(bm.parameters(), lr=0.01)
    bopt.load_state_dict(_from_torch(topt.state_dict()))
    got = bopt.state_dict()
    assert sorted(got["state"]) == [0, 1] and got["param_groups"][0]["params"] == [0, 1]
    np.testing.assert_array_equal(got["state"][0]["exp_avg"].numpy(), topt.state_dict()["state"][0]["exp_avg"].numpy())
    back = _through_torch(bopt.state_dict())
    assert sorted(back["state"]) == [0, 1] and back["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["state"][1]["step"].dtype == torch.float32 and back["state"][1]["step"].dim() == 0
    topt2 = torch.optim.Adam(tm.parameters(), lr=0.01)
    topt2.load_state_dict(back)
    assert torch.equal(topt2.state_dict()["state"][0]["exp_avg_sq"], topt.state_dict()["state"][0]["exp_avg_sq"])


@pytest.mark.parametrize("dtype", _DTYPES)
def test_every_dtype_both_ways(dtype: str) -> None:
    """Tensors of each dtype, 0-d, empty and not contiguous (a transpose): values, dtype, shape and strides."""
    values = torch.arange(-3, 9).reshape(3, 4)
    if dtype in ("bool", "uint8", "uint16", "uint32", "uint64"):
        values = values.abs()
    t = values.to(getattr(torch, dtype))
    objs = {"t": t, "tt": t.t(), "zero_d": t[1, 2].clone(), "empty": t[:0], "row": t[1]}
    got = _from_torch(objs)
    for k, v in objs.items():
        assert str(got[k].dtype) == dtype and tuple(got[k].shape) == tuple(v.shape), k
        assert got[k].stride() == v.stride() and got[k].storage_offset() == v.storage_offset(), k
        if dtype == "bfloat16":
            assert np.array_equal(got[k].float().numpy(), v.float().numpy()), k
        else:
            assert np.array_equal(got[k].numpy(), v.numpy()), k
    back = _through_torch(got)
    for k, v in objs.items():
        assert back[k].dtype == v.dtype and back[k].stride() == v.stride() and torch.equal(back[k], v), k
    assert back["row"].untyped_storage().data_ptr() == back["t"].untyped_storage().data_ptr()  # (one storage)
    assert got["tt"].data_ptr() == got["t"].data_ptr()  # (here too: the transpose views t's memory)


def test_views_share_a_storage_in_torch_and_here() -> None:
    base = bp.arange(10.0)
    back = _through_torch({"base": base, "odd": base[1::2], "block": base[2:8].reshape(2, 3)})
    assert back["odd"].stride() == (2,) and back["odd"].storage_offset() == 1
    back["base"][3] = 30.0
    assert back["odd"][1].item() == 30.0 and back["block"][0, 1].item() == 30.0
    t = torch.arange(10.0)
    got = _from_torch([t, t[2:8].reshape(2, 3)])
    got[0][3] = 30.0
    assert got[1][0, 1].item() == 30.0
    with pytest.raises(RuntimeError, match="view the same data as different types"):  # (torch's refusal too)
        bp.save([base, base.view(bp.int32)], io.BytesIO())


def test_parameters_containers_and_torch_objects() -> None:
    """Parameters stay Parameters (requires_grad kept), attributes on tensors travel, and dtypes, sizes and
    devices are torch's objects on the other side; meta tensors stay meta."""
    w = bp.nn.Parameter(bp.ones(2, 2))
    frozen = bp.nn.Parameter(bp.zeros(3), requires_grad=False)
    tagged = bp.ones(2)
    tagged.tag = "x"
    obj = {"w": w, "frozen": frozen, "tagged": tagged, "nest": {"a": [1, "two", None], "b": (3.5, {"c": bp.ones(1)})}}
    obj |= {
        "dtype": bp.float16,
        "size": bp.Size([4, 5]),
        "dev": bp.device("cpu"),
        "meta": bp.empty(2, 3, device="meta"),
    }
    back = _through_torch(obj)
    assert type(back["w"]) is torch.nn.Parameter and back["w"].requires_grad
    assert type(back["frozen"]) is torch.nn.Parameter and not back["frozen"].requires_grad
    assert back["tagged"].tag == "x" and back["nest"]["a"] == [1, "two", None] and back["nest"]["b"][0] == 3.5
    assert back["dtype"] is torch.float16 and back["size"] == torch.Size([4, 5]) and back["dev"] == torch.device("cpu")
    assert back["meta"].is_meta and back["meta"].shape == (2, 3)
    again = _from_torch(back)
    assert type(again["w"]) is bp.nn.Parameter and again["w"].requires_grad and not again["frozen"].requires_grad
    assert again["tagged"].tag == "x" and again["dtype"] == bp.float16 and again["size"] == bp.Size([4, 5])
    assert again["meta"].device == bp.device("meta") and tuple(again["meta"].shape) == (2, 3)


def test_paths_map_location_legacy_files_and_mmap(tmp_path: Path) -> None:
    sd = torch.nn.Linear(2, 2).state_dict()
    torch.save(sd, tmp_path / "t.pt")
    torch.save(sd, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name in ("t.pt", "legacy.pt"):
        seen: list[str] = []

        def keep(storage: Any, location: str, seen: list[str] = seen) -> Any:
            seen.append(location)
            return storage

        for got in (
            bp.load(tmp_path / name, map_location="cpu"),
            bp.load(tmp_path / name, map_location={"cuda:0": "cpu"}),
            bp.load(str(tmp_path / name), map_location=keep),
        ):
            assert np.array_equal(got["weight"].numpy(), sd["weight"].numpy()) and got["bias"].device == bp.device(
                "cpu"
            )
        assert seen == ["cpu", "cpu"]  # (once per storage)
    got = bp.load(tmp_path / "t.pt", mmap=True)
    assert np.array_equal(got["bias"].numpy(), sd["bias"].numpy())
    bp.save({"w": bp.ones(3)}, tmp_path / "ours_legacy.pt", _use_new_zipfile_serialization=False)
    assert torch.load(tmp_path / "ours_legacy.pt", weights_only=True)["w"].tolist() == [1.0, 1.0, 1.0]
    for lib in (torch, bp):  # (mmap needs a path: torch's error)
        with pytest.raises(ValueError, match="f must be a file path in order to use the mmap argument"):
            lib.load(io.BytesIO((tmp_path / "t.pt").read_bytes()), mmap=True)


def test_weights_only_refusal_is_torchs() -> None:
    for obj in ({"ns": argparse.Namespace(a=1)}, {"f": print}, {"d": __import__("collections").deque([1])}):
        buf = io.BytesIO()
        torch.save(obj, buf)
        errors = []
        for lib in (torch, bp):
            buf.seek(0)
            with pytest.raises(pickle.UnpicklingError) as info:
                lib.load(buf)
            errors.append(str(info.value))
        assert errors[0] == errors[1]


def test_safetensors_paths_load_as_torch_213s(tmp_path: Path) -> None:
    """torch 2.13's ``torch.load("x.safetensors")``: the file's tensors as a dict."""
    import safetensors.torch

    safetensors.torch.save_file({"w": torch.arange(4.0).to(torch.bfloat16)}, str(tmp_path / "m.safetensors"))
    got = bp.load(tmp_path / "m.safetensors", map_location="cpu")
    assert got["w"].dtype == bp.bfloat16 and got["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    for lib in (torch, bp):
        with pytest.raises(RuntimeError, match="Loading safetensors file with dict map_location is not supported"):
            lib.load(str(tmp_path / "m.safetensors"), map_location={"cpu": "cpu"})


def test_sparse_conjugate_and_grad_tensors_from_torch() -> None:
    """torch's sparse COO pickle, a conjugate view (its conj bit in the metadata), a leaf requiring grad."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's note on sparse invariant checks)
        s = torch.sparse_coo_tensor(torch.tensor([[0, 1], [1, 0]]), torch.tensor([1.0, 2.0]), (2, 2))
    got = _from_torch({"s": s, "c": torch.tensor([1 + 2j]).conj(), "r": torch.ones(2, requires_grad=True)})
    assert got["s"].is_sparse and got["s"].to_dense().tolist() == [[0.0, 1.0], [2.0, 0.0]]
    assert got["c"].tolist() == [1 - 2j] and got["r"].requires_grad and got["r"].is_leaf
