"""Run a CuPy ``ElementwiseKernel`` body on NumPy arrays: a tiny interpreter of its C statements.

It understands what the backend's kernels use: declarations (``T e = ...;``), assignments and
compound assignments to outputs, the ternary operator, casts (``(T)1``), arithmetic, comparisons,
logical operators, ``raw`` parameters indexed by ``i`` or an expression, and the CUDA math
functions below. Each statement is evaluated for all elements at once (``where`` for ``?:``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?[fFlLuU]*)|(?P<id>[A-Za-z_]\w*)"
    r"|(?P<op>\+=|-=|\*=|/=|==|!=|<=|>=|&&|\|\||[-+*/%<>=!?:;,()\[\]~&|^]))"
)
_BINARY = {
    "||": (1, lambda a, b: np.logical_or(a, b)),
    "&&": (2, lambda a, b: np.logical_and(a, b)),
    "|": (3, lambda a, b: a | b),
    "^": (4, lambda a, b: a ^ b),
    "&": (5, lambda a, b: a & b),
    "==": (6, lambda a, b: a == b),
    "!=": (6, lambda a, b: a != b),
    "<": (7, lambda a, b: a < b),
    ">": (7, lambda a, b: a > b),
    "<=": (7, lambda a, b: a <= b),
    ">=": (7, lambda a, b: a >= b),
    "+": (9, lambda a, b: a + b),
    "-": (9, lambda a, b: a - b),
    "*": (10, lambda a, b: a * b),
    "/": (10, None),  # C division: truncating for integers
    "%": (10, lambda a, b: np.fmod(a, b)),
}


def _erf(x: Any) -> Any:
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - scipy is a test dependency
        return np.vectorize(math.erf, otypes=[np.asarray(x).dtype])(x)
    return erf(x)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "fabs": np.abs,
    "abs": np.abs,
    "tanh": np.tanh,
    "erf": _erf,
    "max": np.maximum,
    "min": np.minimum,
    "fmax": np.fmax,
    "fmin": np.fmin,
    "pow": np.power,
    "floor": np.floor,
    "ceil": np.ceil,
}
_C_TYPES = {
    "int": np.int32,
    "long": np.int64,
    "float": np.float32,
    "double": np.float64,
    "bool": np.bool_,
    "ptrdiff_t": np.int64,
    "size_t": np.uint64,
}


def _divide(a: Any, b: Any) -> Any:
    if np.result_type(a, b).kind in "iu":
        q = np.abs(a) // np.abs(b)
        return np.where((np.asarray(a) < 0) != (np.asarray(b) < 0), -q, q)
    return a / b


class _Parser:
    """Pratt parser turning one C expression into a function of the environment."""

    def __init__(self, tokens: list[str], types: dict[str, Any]) -> None:
        self.toks, self.pos, self.types = tokens, 0, types

    def peek(self, k: int = 0) -> str | None:
        return self.toks[self.pos + k] if self.pos + k < len(self.toks) else None

    def take(self, expect: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expect is not None and tok != expect):
            raise SyntaxError(f"kernel body: expected {expect!r}, got {tok!r} in {' '.join(self.toks)}")
        self.pos += 1
        return tok

    def expr(self, min_prec: int = 0) -> Callable[[dict], Any]:
        left = self.unary()
        while True:
            tok = self.peek()
            if tok == "?" and min_prec <= 0:
                self.take()
                then = self.expr(0)
                self.take(":")
                other = self.expr(0)
                cond = left
                left = lambda env, c=cond, t=then, o=other: np.where(c(env), t(env), o(env))  # noqa: E731
                continue
            if tok not in _BINARY or _BINARY[tok][0] < max(min_prec, 1):
                return left
            prec, fn = _BINARY[tok]
            self.take()
            right = self.expr(prec + 1)
            f = fn or _divide
            left = lambda env, a=left, b=right, f=f: f(a(env), b(env))  # noqa: E731

    def unary(self) -> Callable[[dict], Any]:
        tok = self.take()
        if tok == "-":
            x = self.unary()
            return lambda env: -x(env)
        if tok == "+":
            return self.unary()
        if tok == "!":
            x = self.unary()
            return lambda env: np.logical_not(x(env))
        if tok == "~":
            x = self.unary()
            return lambda env: ~x(env)
        if tok == "(":
            nxt = self.peek()
            if nxt is not None and (nxt in self.types or nxt in _C_TYPES) and self.peek(1) == ")":
                self.take()
                self.take(")")
                x = self.unary()
                return lambda env, name=nxt: _cast(x(env), env["__types__"].get(name, _C_TYPES.get(name)))
            inner = self.expr(0)
            self.take(")")
            return self.postfix(inner)
        if re.fullmatch(r"[\d.].*", tok):
            text = tok.rstrip("fFlLuU")
            value = float(text) if any(c in text for c in ".eE") else int(text)
            return self.postfix(lambda env: value)
        if self.peek() == "(" and tok in FUNCTIONS:
            self.take("(")
            args = [self.expr(0)]
            while self.peek() == ",":
                self.take()
                args.append(self.expr(0))
            self.take(")")
            fn = FUNCTIONS[tok]
            return self.postfix(lambda env: fn(*(a(env) for a in args)))
        if tok in FUNCTIONS or not re.fullmatch(r"[A-Za-z_]\w*", tok):
            raise SyntaxError(f"kernel body: unsupported token {tok!r}")
        return self.postfix(lambda env, name=tok: env[name])

    def postfix(self, x: Callable[[dict], Any]) -> Callable[[dict], Any]:
        while self.peek() == "[":
            self.take()
            idx = self.expr(0)
            self.take("]")
            x = lambda env, a=x, i=idx: np.asarray(a(env)).ravel()[np.asarray(i(env)).astype(np.int64)]  # noqa: E731
        return x


def _cast(value: Any, dtype: Any) -> Any:
    return np.asarray(value).astype(dtype) if np.ndim(value) else np.dtype(dtype).type(value)


def parse_params(text: str) -> list[tuple[bool, str, str]]:
    """``"raw T e, int32 C"`` -> [(raw, type, name), ...]."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        raw = words[0] == "raw"
        if raw:
            words = words[1:]
        out.append((raw, words[0], words[1]))
    return out


def compile_body(body: str, type_names: set[str]) -> list[tuple[str | None, str, str, Callable[[dict], Any]]]:
    """The body as a list of (declared type or None, target, operator, expression) statements."""
    statements = []
    for stmt in filter(None, (s.strip() for s in body.split(";"))):
        toks = [m.group(m.lastgroup) for m in _TOKEN.finditer(stmt)]  # type: ignore[arg-type]
        if "".join(toks).replace(" ", "") != stmt.replace(" ", "").replace("\n", ""):
            raise SyntaxError(f"kernel body: cannot tokenise {stmt!r}")
        decl = None
        if len(toks) > 2 and (toks[0] in type_names or toks[0] in _C_TYPES or toks[0] == "const"):
            if toks[0] == "const":
                toks = toks[1:]
            decl, toks = toks[0], toks[1:]
        target, op = toks[0], toks[1]
        if op not in ("=", "+=", "-=", "*=", "/="):
            raise SyntaxError(f"kernel body: unsupported statement {stmt!r}")
        parser = _Parser(toks[2:], type_names)
        expr = parser.expr(0)
        if parser.peek() is not None:
            raise SyntaxError(f"kernel body: trailing tokens in {stmt!r}")
        statements.append((decl, target, op, expr))
    return statements


def run(statements: list, env: dict, out_types: dict[str, Any]) -> None:
    """Execute compiled statements in ``env`` (outputs are read and written there)."""
    types = env["__types__"]
    for decl, target, op, expr in statements:
        value = expr(env)
        if op != "=":
            cur = env[target]
            value = {"+=": np.add, "-=": np.subtract, "*=": np.multiply, "/=": _divide}[op](cur, value)
        dtype = types.get(decl, _C_TYPES.get(decl)) if decl else out_types.get(target)
        env[target] = _cast(value, dtype) if dtype is not None else value
