"""Ground truth of the NATS-Bench topology space (tss, = NAS-Bench-201): accuracies, params, isomorphism.

One interface, ``Benchmark``, two backends:

* ``CsvBenchmark`` (default): the compact table ``nb201_accuracies/nb201_all_archs_merged.csv`` of the
  data folder (``--data-dir`` → ``$EIGENNAS_DATA`` → ``../shared/data``, see ``theory.data_dir``). Row i
  is NATS-tss index i. Columns used (provenance in the folder's PROVENANCE.md):

  ============  ==================================  ===========================================
  dataset       test accuracy (200 epochs)          valid accuracy (200 epochs)
  ============  ==================================  ===========================================
  cifar10       ``cifar10_test_200ep`` (ori-test,   ``cifar10valid_valid_200ep_nb201v10``
                train+valid training, NATS)         (cifar10-valid x-valid, NB201 v1.0; all rows)
  cifar100      ``cifar100_test_200ep`` (x-test)    ``cifar100_valid_200ep_naslib`` (~725 rows)
  ImageNet16-   ``imagenet16_120_test_200ep``       ``imagenet16_120_valid_200ep_naslib``
  120           (x-test)                            (~725 rows; NaN elsewhere)
  ============  ==================================  ===========================================

  plus ``params_M_cifar10`` (millions of parameters of the C=16, N=5 CIFAR-10 network) and
  ``unique_str`` (the NATS isomorphism string, see ``nats_unique_str``).

* ``NatsApiBenchmark``: the official NATS-Bench files through the optional ``nats_bench`` package
  (``pip install nats_bench``; files via ``$TORCH_HOME``), queried as
  ``api.get_more_info(i, dataset, hp='200', is_random=False)['test-accuracy']`` (the same call that
  produced the CSV's test columns). Nothing is downloaded by eigennas.

The order of ``theory.presets.all_nats_arch_strings()`` is *not* the benchmark index order: use
``Benchmark.arch(i)`` / ``Benchmark.index(arch)`` for index ↔ string.
"""

from __future__ import annotations

import abc
import csv
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from theory.data_dir import DataNotFoundError, find_data_dir
from theory.space import Arch, ArchError
from theory.validate import NUMBER

__all__ = [
    "DATASETS",
    "BenchmarkError",
    "Benchmark",
    "CsvBenchmark",
    "NatsApiBenchmark",
    "canonical_dataset",
    "load_benchmark",
    "nats_unique_str",
    "CSV_RELPATH",
    "NATS_TSS_SIZE",
    "read_table",
]

#: The three datasets of NATS-Bench, in their official spelling.
DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
CSV_RELPATH = Path("nb201_accuracies") / "nb201_all_archs_merged.csv"
#: Base name of the official NATS-Bench topology files (v1.0).
NATS_TSS_BASE = "NATS-tss-v1_0-3ffb9"

_ALIASES = {
    "cifar10": "cifar10",
    "c10": "cifar10",
    "cifar-10": "cifar10",
    "cifar100": "cifar100",
    "c100": "cifar100",
    "cifar-100": "cifar100",
    "imagenet16-120": "ImageNet16-120",
    "imagenet16_120": "ImageNet16-120",
    "imagenet16": "ImageNet16-120",
    "imagenet": "ImageNet16-120",
    "in16": "ImageNet16-120",
    "in16-120": "ImageNet16-120",
}

_CSV_TEST = {
    "cifar10": "cifar10_test_200ep",
    "cifar100": "cifar100_test_200ep",
    "ImageNet16-120": "imagenet16_120_test_200ep",
}
_CSV_VALID = {
    "cifar10": "cifar10valid_valid_200ep_nb201v10",
    "cifar100": "cifar100_valid_200ep_naslib",
    "ImageNet16-120": "imagenet16_120_valid_200ep_naslib",
}


class BenchmarkError(ValueError):
    """A query the benchmark cannot answer (unknown architecture, dataset or index)."""


def canonical_dataset(name: str) -> str:
    """'cifar10' | 'cifar100' | 'ImageNet16-120' from common spellings (c10, imagenet16_120, in16, ...)."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise BenchmarkError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    return _ALIASES[key]


def nats_unique_str(arch: str | Arch, consider_zero: bool | None = True) -> str:
    """NATS-Bench's isomorphism string of a cell (the ``unique_str`` column).

    Each node gets a formula: node 0 is ``0``; an edge ``op~i`` contributes ``(f_i)@op``, except
    ``skip_connect`` which contributes ``f_i`` itself; a node's formula is the ``+``-join of its
    contributions sorted as strings; the cell's string is the output node's formula. With
    ``consider_zero=True``, ``none`` edges and edges from zero nodes contribute ``#``; with ``None``
    every op (skip included) is written out. This is a path-expansion notion (weight sharing is
    ignored), unlike ``Arch.canonical`` which is exact equality of the computed function; the
    benchmark's ``unique_str`` column equals ``consider_zero=True`` for all 15,625 cells (tested);
    it has 6,466 classes where ``Arch.canonical`` has 6,985.
    """
    a = Arch.parse(arch)
    forms: dict[int, str] = {0: "0"}
    for j in range(1, a.n_nodes + 1):
        parts = []
        for e in a.incoming(j):
            op = e.op.token
            src = forms[e.src]
            if consider_zero is None:
                parts.append(f"({src})@{op}")
            elif consider_zero:
                if op == "none" or src == "#":
                    parts.append("#")
                elif op == "skip_connect":
                    parts.append(src)
                else:
                    parts.append(f"({src})@{op}")
            elif op == "skip_connect":
                parts.append(src)
            else:
                parts.append(f"({src})@{op}")
        forms[j] = "+".join(sorted(parts))
    return forms[a.n_nodes]


class Benchmark(abc.ABC):
    """Read-only view of the NATS-Bench topology space: 15,625 cells, indexed 0..15624.

    Every query takes an architecture as an index (int) or a NATS arch string (or ``Arch``).
    Accuracies are percentages (top-1, 200-epoch schedule, mean over the benchmark's seeds).
    """

    # ---------------------------------------------------------------- backend hooks
    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def arch(self, index: int) -> str:
        """The NATS arch string of benchmark index ``index``."""

    @abc.abstractmethod
    def _index_of_string(self, arch_str: str) -> int | None: ...

    @abc.abstractmethod
    def _test(self, index: int, dataset: str) -> float: ...

    @abc.abstractmethod
    def _valid(self, index: int, dataset: str) -> float: ...

    @abc.abstractmethod
    def _params(self, index: int) -> float: ...

    def _unique(self, index: int) -> str:
        return nats_unique_str(self.arch(index))

    # ---------------------------------------------------------------- public queries
    def index(self, arch: int | str | Arch) -> int:
        """Benchmark index of an architecture (an int is range-checked and returned)."""
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            i = int(arch)
            if not 0 <= i < len(self):
                raise BenchmarkError(f"index {i} out of range 0..{len(self) - 1}")
            return i
        if isinstance(arch, Arch):
            text = str(arch)
        elif isinstance(arch, str):
            text = arch.strip()
        else:
            raise BenchmarkError(f"an architecture is an index or an arch string, got {type(arch).__name__}")
        i = self._index_of_string(text)
        if i is None:
            try:
                text2 = str(Arch.parse(text))  # normalizes edge order within a node
            except ArchError as exc:
                raise BenchmarkError(f"not an architecture string: {exc}") from None
            i = self._index_of_string(text2)
        if i is None:
            raise BenchmarkError(
                f"{text!r} is not a cell of the NATS-Bench topology space (4 nodes, 6 edges, ops none/skip_connect/"
                "nor_conv_1x1/nor_conv_3x3/avg_pool_3x3)"
            )
        return i

    def test_accuracy(self, arch: int | str | Arch, dataset: str = "cifar10") -> float:
        """200-epoch test accuracy (%) on ``dataset`` (cifar10 | cifar100 | ImageNet16-120)."""
        return float(self._test(self.index(arch), canonical_dataset(dataset)))

    def valid_accuracy(self, arch: int | str | Arch, dataset: str = "cifar10") -> float:
        """200-epoch validation accuracy (%); NaN where the backend does not have it."""
        return float(self._valid(self.index(arch), canonical_dataset(dataset)))

    def accuracy(self, arch: int | str | Arch, dataset: str = "cifar10", split: str = "test") -> float:
        """``test_accuracy`` or ``valid_accuracy`` by ``split``."""
        if split == "test":
            return self.test_accuracy(arch, dataset)
        if split in ("valid", "val", "validation"):
            return self.valid_accuracy(arch, dataset)
        raise BenchmarkError(f"split must be 'test' or 'valid', got {split!r}")

    def params(self, arch: int | str | Arch) -> float:
        """Parameters (millions) of the C=16, N=5 network for CIFAR-10 (10 classes)."""
        return float(self._params(self.index(arch)))

    def unique_str(self, arch: int | str | Arch) -> str:
        """NATS isomorphism class string (cells with equal ``unique_str`` are treated as one)."""
        return self._unique(self.index(arch))

    def accuracies(
        self, dataset: str = "cifar10", indices: Sequence[int] | np.ndarray | None = None, split: str = "test"
    ) -> np.ndarray:
        """Vector of accuracies for ``indices`` (all cells when None)."""
        ds = canonical_dataset(dataset)
        idx = range(len(self)) if indices is None else [self.index(int(i)) for i in indices]
        get = self._test if split == "test" else self._valid
        if split not in ("test", "valid"):
            raise BenchmarkError(f"split must be 'test' or 'valid', got {split!r}")
        return np.array([get(i, ds) for i in idx], dtype=float)

    def sample(self, n: int, rng: np.random.Generator | int | None = None, replace: bool = False) -> list[int]:
        """``n`` distinct benchmark indices drawn uniformly (``rng`` a Generator or a seed)."""
        if n < 1 or (not replace and n > len(self)):
            raise BenchmarkError(f"cannot sample {n} of {len(self)} architectures")
        g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return [int(i) for i in g.choice(len(self), size=n, replace=replace)]

    def best(self, dataset: str = "cifar10") -> tuple[int, float]:
        """(index, accuracy) of the best cell by test accuracy: the optimum of the space."""
        acc = self.accuracies(dataset)
        i = int(np.nanargmax(acc))
        return i, float(acc[i])

    def __iter__(self):
        return iter(range(len(self)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} architectures)"


#: Number of cells of the NATS-Bench topology search space (5 operations on 6 edges).
NATS_TSS_SIZE = 5**6


def _is_missing(text: str) -> bool:
    return text.strip().lower() in ("", "nan")


def read_table(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, records and their line numbers of a CSV file, every record checked to have as many
    fields as the header (a file cut mid-line, or a stray delimiter, is named by file and line)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise BenchmarkError(f"{path} is empty (no header line)")
            dup = sorted({h for h in header if header.count(h) > 1})
            if dup:
                raise BenchmarkError(f"{path}: the header repeats the columns {dup}")
            rows: list[list[str]] = []
            lines: list[int] = []
            for rec in reader:
                if not rec:
                    continue  # a blank line
                if len(rec) != len(header):
                    raise BenchmarkError(
                        f"{path}, line {reader.line_num} (row {len(rows)}): {len(rec)} fields where the header has "
                        f"{len(header)}; the file is cut or corrupt (restore it from the data folder's source)"
                    )
                rows.append(rec)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise BenchmarkError(f"{path} is not a UTF-8 text table: {exc}") from None
    except csv.Error as exc:
        raise BenchmarkError(f"{path} is not a valid CSV table: {exc}") from None
    return header, rows, lines


def _number_column(path: Path, header: list[str], rows: list[list[str]], lines: list[int], name: str,
                   required: bool, low: float = -math.inf, high: float = math.inf) -> np.ndarray:
    """Column ``name`` as floats. Every field must be a number (the message names file, line, row
    and column); ``required`` columns also refuse missing values, NaN and ±inf, and values outside
    [low, high]; optional ones read '' and 'nan' as NaN."""
    j = header.index(name)
    out = np.empty(len(rows))
    for i, rec in enumerate(rows):
        text = rec[j]
        where = f"{path}, line {lines[i]} (row {i}), column {name!r}"
        if _is_missing(text):
            if required:
                raise BenchmarkError(f"{where}: missing value {text!r}; this column must hold a number in every row")
            out[i] = math.nan
            continue
        if not re.fullmatch(NUMBER, text.strip()):  # ASCII decimals only: float() also reads '١٢' and 'infinity'
            raise BenchmarkError(f"{where}: {text!r} is not a number")
        v = float(text.strip())
        if required and not (math.isfinite(v) and low <= v <= high):
            raise BenchmarkError(f"{where}: {text!r} is outside [{low:g}, {high:g}]")
        out[i] = v
    return out


class CsvBenchmark(Benchmark):
    """Backend over the merged CSV table (no pandas; read once with ``csv``)."""

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None,
        expected_rows: int | None = NATS_TSS_SIZE,
    ) -> None:
        """Read and check the table: every record has the header's fields, the index column is
        0..N−1, arch strings are unique, test accuracies (in [0, 100]) and parameter counts are numbers
        in every row, other numeric columns are numbers or empty; ``expected_rows`` (default the
        15,625 cells of the space; None for a deliberate subset) guards against a table cut short.
        Errors name the file, line, row and column."""
        if path is None:
            try:
                root = find_data_dir(data_dir)
            except DataNotFoundError as exc:
                raise DataNotFoundError(
                    f"NATS-Bench accuracy table not found: {exc}. It is {CSV_RELPATH} in the data folder; "
                    "or use the official files with NatsApiBenchmark (pip install nats_bench)"
                ) from None
            assert root is not None
            path = root / CSV_RELPATH
        self.path = Path(path)
        if not self.path.is_file():
            raise DataNotFoundError(
                f"NATS-Bench accuracy table {self.path} does not exist (expected {CSV_RELPATH} inside the data folder; "
                "set --data-dir or $EIGENNAS_DATA)"
            )
        header, rows, lines = read_table(self.path)
        needed = {"index", "arch_str", "params_M_cifar10", "unique_str", *_CSV_TEST.values()}
        missing = sorted(needed - set(header))
        if missing:
            raise BenchmarkError(f"{self.path} lacks the columns {missing}")
        if expected_rows is not None and len(rows) != expected_rows:
            raise BenchmarkError(
                f"{self.path} has {len(rows)} architectures, the NATS-Bench topology space has {expected_rows}: the "
                "table is incomplete (cut short?) and would silently restrict every search to part of the space"
            )
        col = {name: header.index(name) for name in header}
        order = [r[col["index"]].strip() for r in rows]
        for i, t in enumerate(order):
            if t != str(i):
                raise BenchmarkError(
                    f"{self.path}, line {lines[i]} (row {i}), column 'index': {t!r}; the index column must be "
                    f"0..{len(rows) - 1} in order"
                )
        self._arch = [r[col["arch_str"]].strip() for r in rows]
        self._pos = {a: i for i, a in enumerate(self._arch)}
        if len(self._pos) != len(self._arch):
            seen: dict[str, int] = {}
            for i, a in enumerate(self._arch):
                if a in seen:
                    raise BenchmarkError(
                        f"{self.path}, line {lines[i]} (row {i}), column 'arch_str': {a!r} repeats row {seen[a]}"
                    )
                seen[a] = i
        self._uniq = [r[col["unique_str"]] for r in rows]

        def number(name: str, required: bool, low: float = -math.inf, high: float = math.inf) -> np.ndarray:
            return _number_column(self.path, header, rows, lines, name, required, low, high)

        self._test_cols = {ds: number(c, True, 0.0, 100.0) for ds, c in _CSV_TEST.items()}
        self._valid_cols = {
            ds: (number(c, False) if c in col else np.full(len(rows), math.nan)) for ds, c in _CSV_VALID.items()
        }
        self._params_col = number("params_M_cifar10", True, 0.0)
        self.columns = tuple(header)
        self._extra = {c: number(c, False) for c in header if c not in ("arch_str", "unique_str", "index")}

    def __len__(self) -> int:
        return len(self._arch)

    def arch(self, index: int) -> str:
        return self._arch[self.index(int(index))]

    def _index_of_string(self, arch_str: str) -> int | None:
        return self._pos.get(arch_str)

    def _test(self, index: int, dataset: str) -> float:
        return float(self._test_cols[dataset][index])

    def _valid(self, index: int, dataset: str) -> float:
        return float(self._valid_cols[dataset][index])

    def _params(self, index: int) -> float:
        return float(self._params_col[index])

    def _unique(self, index: int) -> str:
        return self._uniq[index]

    def accuracies(
        self, dataset: str = "cifar10", indices: Sequence[int] | np.ndarray | None = None, split: str = "test"
    ) -> np.ndarray:
        ds = canonical_dataset(dataset)
        if split not in ("test", "valid"):
            raise BenchmarkError(f"split must be 'test' or 'valid', got {split!r}")
        col = self._test_cols[ds] if split == "test" else self._valid_cols[ds]
        if indices is None:
            return col.copy()
        return col[[self.index(int(i)) for i in indices]]

    def column(self, name: str) -> np.ndarray:
        """Any numeric column of the table by name (e.g. ``naswot_score_v1_cifar10``, ``cifar10_test_12ep``)."""
        if name not in self._extra:
            raise BenchmarkError(f"no numeric column {name!r}; have {sorted(self._extra)}")
        return self._extra[name].copy()


class NatsApiBenchmark(Benchmark):
    """Backend over the official NATS-Bench API object (``nats_bench.create(path, 'tss', ...)``).

    ``api`` may be any object with ``__len__``, ``arch(i)``, ``query_index_by_arch(s)``,
    ``get_more_info(i, dataset, hp=..., is_random=False)`` and ``get_cost_info(i, dataset, hp=...)``;
    the tests use a small fake one. Validation accuracy of cifar10 is read from ``cifar10-valid``
    (x-valid), as in the CSV. ``unique_str`` is computed with ``nats_unique_str``.
    """

    def __init__(self, api: Any, hp: str = "200") -> None:
        self.api = api
        self.hp = str(hp)
        self._memo: dict[tuple[int, str], dict] = {}

    @classmethod
    def from_path(cls, path: str | os.PathLike | None = None, hp: str = "200") -> NatsApiBenchmark:
        """Open the official files: the fast-mode folder ``NATS-tss-v1_0-3ffb9-simple/`` (``meta.pickle.pbz2``
        plus one ``{index:06d}.pickle.pbz2`` per cell, read on demand) or the single archive
        ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (read at once). ``nats_bench.create`` insists that its
        ``fast_mode`` matches the layout (a folder with ``fast_mode=True``, a file with ``False``), so it is
        chosen from ``path``. ``path`` None: ``$TORCH_HOME`` (else ``~/.torch``), the folder if present, else
        the file, as NATS-Bench's own default."""
        try:
            import nats_bench  # type: ignore[import-not-found]  # optional dependency (the 'nats' extra)
            from nats_bench.api_utils import get_torch_home  # type: ignore[import-not-found]  # same package
        except ImportError:
            raise BenchmarkError(
                "the NATS-Bench API backend needs the optional package nats_bench (pip install 'eigennas[nats]') "
                "and the official NATS-tss files; or use the CSV backend (default)"
            ) from None
        if path is None:
            home = Path(get_torch_home())
            folder, archive = home / f"{NATS_TSS_BASE}-simple", home / f"{NATS_TSS_BASE}.pickle.pbz2"
            path = folder if folder.is_dir() or not archive.is_file() else archive
        p = Path(path)
        if not p.exists():
            raise DataNotFoundError(
                f"NATS-tss files not found at {p}: give the folder {NATS_TSS_BASE}-simple/ (fast mode) or the file "
                f"{NATS_TSS_BASE}.pickle.pbz2 (or set $TORCH_HOME to the folder holding them)"
            )
        try:
            api = nats_bench.create(str(p), "tss", fast_mode=p.is_dir(), verbose=False)
        except Exception as exc:  # noqa: BLE001 - the API raises assorted errors for broken files
            raise DataNotFoundError(f"nats_bench could not open the NATS-tss files at {p}: {exc}") from None
        return cls(api, hp=hp)

    def __len__(self) -> int:
        return len(self.api)

    def arch(self, index: int) -> str:
        i = self.index(int(index))
        return str(self.api.arch(i))

    def _index_of_string(self, arch_str: str) -> int | None:
        try:
            i = int(self.api.query_index_by_arch(arch_str))
        except Exception:  # noqa: BLE001 - the API asserts/raises on unknown strings
            return None
        return i if 0 <= i < len(self) else None

    def _info(self, index: int, dataset: str) -> dict:
        key = (index, dataset)
        if key not in self._memo:
            self._memo[key] = self.api.get_more_info(index, dataset, hp=self.hp, is_random=False)
        return self._memo[key]

    def _test(self, index: int, dataset: str) -> float:
        return float(self._info(index, dataset)["test-accuracy"])

    def _valid(self, index: int, dataset: str) -> float:
        ds = "cifar10-valid" if dataset == "cifar10" else dataset
        value = self._info(index, ds).get("valid-accuracy")
        return math.nan if value is None else float(value)

    def _params(self, index: int) -> float:
        return float(self.api.get_cost_info(index, "cifar10", hp=self.hp)["params"])


def load_benchmark(
    source: str | os.PathLike | None = None, backend: str = "csv", data_dir: str | os.PathLike | None = None
) -> Benchmark:
    """Open the benchmark: ``backend='csv'`` (``source`` a CSV path, else the data folder) or ``'nats'``
    (``source`` the NATS-Bench files path for ``nats_bench.create``)."""
    if backend == "csv":
        return CsvBenchmark(source, data_dir=data_dir)
    if backend in ("nats", "nats_bench", "api"):
        return NatsApiBenchmark.from_path(source)
    raise BenchmarkError(f"unknown benchmark backend {backend!r}; use 'csv' or 'nats'")


def indices_of(bench: Benchmark, archs: Iterable[int | str | Arch]) -> list[int]:
    """Indices of several architectures."""
    return [bench.index(a) for a in archs]
