"""Which (prior, class) scores enter NMS: the candidate selection of core.ssd.postprocess.

torchvision's SSD keeps, per class, the ``topk_candidates`` best scores above ``score_thresh`` and
runs NMS on them. Both functions here give that selection without visiting every class in Python
and without sorting every score above the threshold (at SSDlite's threshold 0.001 that is nearly
all 3,234 x 90 of them).

Detection order, the one total order used by the whole postprocess: descending score; among
exactly equal scores, ascending class, then ascending prior index. (torchvision orders equal scores
as its ``topk`` and unstable ``sort`` happen to; for distinct scores the two orders are the same.)
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: Up to this many entries in a region (or ``_SORT_PER_K`` times k), they are sorted as a list; beyond,
#: they stay a score matrix where each class's cut and the k-th value are found by selection.
_SORT_AT_MOST = 8192
_SORT_PER_K = 8


class Candidates:
    """One image's candidates in detection order, found as far as they are asked for.

        cands = Candidates(scores, thresh, cap)
        prior, column, score, complete = cands.first(k)

    A candidate is a (prior, class) entry above ``thresh`` among its class's first ``cap`` in detection
    order (torchvision's per-class top-k); entries of a class beyond its first ``cap`` neither count nor
    take a place among the first ``k``.

    A row's best score bounds all its entries, so the k-th largest row maximum ``t`` is a lower bound
    of the k-th largest entry: only rows whose maximum reaches ``t``, and in them only entries ``>= t``,
    can be among the first ``k`` (a region of the score matrix; with spread scores about ``k`` entries).
    If the per-class cut leaves fewer than ``k`` in the region, the region becomes every entry above
    the threshold. A later, larger ``k`` reuses the region when it holds enough entries.

    NumPy, not torch: apart from a few passes over the score matrix the work is on a few hundred
    entries, where each torch call costs several microseconds of dispatch and NumPy's a fraction;
    comparisons and sorts are exact in both.

    Args:
        scores: float32 [P, C] probabilities of the real classes (column c is label c + 1); any strides.
        thresh: entries strictly above it count, compared in float32 (as torch's ``scores > thresh``).
        cap: at most this many per class (None: no limit).
        rowmax: float32 [P], ``scores.max(1)`` when the caller has it (NaN for a row of NaN).
    """

    def __init__(self, scores: np.ndarray, thresh: float, cap: int | None = None,
                 rowmax: np.ndarray | None = None) -> None:
        self.scores = scores
        self.thresh = np.float32(thresh)
        self.cap = cap
        if rowmax is None:
            rowmax = scores.max(axis=1) if scores.size else np.full(scores.shape[0], -np.inf, np.float32)
        self.rowmax = rowmax
        self.live = np.flatnonzero(rowmax > self.thresh)  # a row of NaN (a non-finite logit) is never live
        self._region: _ListRegion | _MatrixRegion | _EqualRegion | None = None

    def first(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """The first ``k`` (>= 1) candidates: (prior int64 [n], column int64 [n], score float32 [n],
        complete) in detection order, n = min(k, candidates). ``complete`` is True when they are all the
        candidates; False when there are more, or when the first ``k`` were found without counting the rest."""
        region = self._region
        if region is None or not (region.complete or region.count >= k):
            region = self._region = self._build(k)
        return region.first(k)

    def shared_priors(self) -> tuple[np.ndarray, np.floating, int, bool] | None:
        """After :meth:`first`: when its region's entries are all one value in every row of every class (an
        untrained network's 1/91), the candidates are one prior sequence repeated class after class:
        (priors int64 [n], the value, the number of classes, complete: no candidate outside the region);
        else None."""
        region = self._region
        if not isinstance(region, _EqualRegion) or not region.whole:
            return None
        return region.rows[: int(region.taken[0])], region.value, region.classes, region.complete

    def _build(self, k: int) -> _ListRegion | _MatrixRegion | _EqualRegion:
        n_live = self.live.size
        if n_live > k:
            bound = np.partition(self.rowmax[self.live], n_live - k)[n_live - k]  # k-th largest row maximum
            rows = (self.rowmax >= bound).nonzero()[0]
            region = _region(self.scores, rows, bound, True, k, self.cap, False, self.rowmax[rows].max())
            if region.count >= k:
                return region
        top = self.rowmax[self.live].max() if n_live else self.thresh
        return _region(self.scores, self.live, self.thresh, False, k, self.cap, True, top)


def _region(scores: np.ndarray, rows: np.ndarray, low: np.floating, inclusive: bool, k: int, cap: int | None,
            complete: bool, top: np.floating) -> _ListRegion | _MatrixRegion | _EqualRegion:
    """The entries of ``rows`` (ascending) at or above (``inclusive``) or above ``low``, cut to ``cap`` per class;
    ``top`` is the largest of them (the largest row maximum among ``rows``)."""
    sub = scores[rows] if rows.size < scores.shape[0] else scores  # [R, C] (rows ascending: all rows is scores)
    many = max(_SORT_AT_MOST, _SORT_PER_K * k)  # beyond this many entries the region is not sorted as a list
    if inclusive and top == low and sub.size > many and sub.min() == top:
        return _EqualRegion(rows, None, top, cap, complete, sub.shape[1])  # every entry is the bound: no mask
    mask = sub >= low if inclusive else sub > low
    n = np.count_nonzero(mask)
    if n > many:
        # Every entry of the region is one value when the largest is the lowest allowed (an untrained
        # network's 1/91 at the bound), or when as many entries equal the largest as the region holds.
        if (inclusive and top == low) or np.count_nonzero(sub == top) == n:
            return _EqualRegion(rows, mask, top, cap, complete, sub.shape[1])
        values_t = np.ascontiguousarray(sub.T)  # [C, R]: class-major
        return _MatrixRegion(rows, values_t, np.ascontiguousarray(mask.T), cap, complete)
    row, col = np.divmod(np.flatnonzero(mask), sub.shape[1])
    values = sub[row, col]
    order = _detection_order(values, col, row)
    if cap is not None and np.bincount(col, minlength=1).max() > cap:
        order = order[rank_in_class(col[order]) < cap]
    return _ListRegion(rows[row[order]], col[order], values[order], complete)


class _ListRegion:
    """A region's candidates sorted in detection order."""

    def __init__(self, prior: np.ndarray, col: np.ndarray, values: np.ndarray, complete: bool) -> None:
        self.prior, self.col, self.values, self.complete = prior, col, values, complete
        self.count = int(values.size)

    def first(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        return self.prior[:k], self.col[:k], self.values[:k], self.complete and self.count <= k


class _EqualRegion:
    """A region whose entries are all one value (an untrained network's 1/91 everywhere): detection order is
    then class order, each class's entries by prior; nothing is sorted or searched."""

    def __init__(self, rows: np.ndarray, mask: np.ndarray | None, value: np.floating, cap: int | None,
                 complete: bool, classes: int) -> None:
        """``mask``: bool [R, C], the region's entries among ``rows`` x ``classes``; None: all of them."""
        self.rows, self.mask, self.value, self.complete, self.classes = rows, mask, value, complete, classes
        self.whole = mask is None or bool(mask.all())  # every row in every class: a class's first n rows are rows[:n]
        per_class = np.full(classes, rows.size) if self.whole else mask.sum(axis=0)  # type: ignore[union-attr]
        self.taken = per_class if cap is None else np.minimum(per_class, cap)  # [C]: each class's candidates
        self.count = int(self.taken.sum())

    def first(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        room = np.minimum(self.taken, np.maximum(k - (np.cumsum(self.taken) - self.taken), 0))  # [C]
        cols = np.flatnonzero(room)
        prior = [self.rows[:n] if self.whole else self.rows[self.mask[:, c].nonzero()[0][:n]]  # type: ignore[index]
                 for c, n in zip(cols.tolist(), room[cols].tolist())]
        n = int(room.sum())
        return (np.concatenate(prior) if prior else np.zeros(0, np.int64), np.repeat(cols, room[cols]),
                np.full(n, self.value, np.float32), self.complete and self.count <= k)


class _MatrixRegion:
    """A region with very many entries (near-equal scores), kept as a class-major matrix: no list of
    them all is sorted, and a class is cut to ``cap`` only where that cut decides the first ``k``.

    The first ``k`` are those above ``t``, the k-th largest candidate, and as many equal to it as are
    missing, in class order (each class's first by row). ``t`` is the k-th largest entry unless the
    cut removes too many: then each class with ``cap`` entries at or above that value is taken whole
    (its first ``cap``) and the other classes are searched again for the remaining places.
    """

    def __init__(self, rows: np.ndarray, values_t: np.ndarray, mask_t: np.ndarray, cap: int | None,
                 complete: bool) -> None:
        self.rows, self.complete = rows, complete
        self.v = np.where(mask_t, values_t, np.float32(-np.inf))  # [C, R]: -inf outside the region
        self.cap = values_t.shape[1] if cap is None else cap
        self.per_class = np.count_nonzero(mask_t, axis=1)
        self.count = int(np.minimum(self.per_class, self.cap).sum())
        self.values = values_t[mask_t]  # every entry of the region, for the k-th value

    def first(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        v = self.v
        chosen = self._all() if self.count <= k else self._first_capped(k)
        col, row = np.divmod(chosen, v.shape[1])
        values = v.reshape(-1)[chosen]
        order = _detection_order(values, col, row)
        return self.rows[row[order]], col[order], values[order], self.complete and self.count <= k

    def _all(self) -> np.ndarray:
        """Flat indices into ``v`` of every candidate, in no order."""
        r = self.v.shape[1]
        parts = [self._top(c) if self.per_class[c] > self.cap else c * r + np.flatnonzero(self.v[c] > -np.inf)
                 for c in np.flatnonzero(self.per_class).tolist()]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def _first_capped(self, k: int) -> np.ndarray:
        """Flat indices into ``v`` of the first ``k`` candidates (fewer than ``count``), in no order."""
        v, cap, r = self.v, self.cap, self.v.shape[1]
        classes = np.arange(v.shape[0])
        values = self.values
        taken: list[np.ndarray] = []
        while True:
            sub = v if classes.size == v.shape[0] else v[classes]
            t = np.partition(values, values.size - k)[values.size - k]  # k-th largest, before any cut
            gt = sub > t
            eq = sub == t
            above = np.count_nonzero(gt, axis=1)
            tied = np.count_nonzero(eq, axis=1)
            if np.minimum(above + tied, cap).sum() >= k:
                break  # the cut leaves k at or above t: t is the k-th candidate
            full = above + tied >= cap  # taken whole (first cap), all above the k-th candidate
            taken += [self._top(c) for c in classes[full].tolist()]
            k -= cap * int(full.sum())
            classes = classes[~full]
            rest = v[classes]
            values = rest[rest > -np.inf]
        over = above > cap  # more than cap even strictly above t: their first cap
        taken += [self._top(c) for c in classes[over].tolist()]
        if over.any():
            gt[over] = False
        row_idx, col_idx = np.divmod(np.flatnonzero(gt), r)
        taken.append(classes[row_idx] * r + col_idx)
        # The missing places go to entries equal to t, class by class, each class's first by row.
        room = np.minimum(tied, cap - np.minimum(above, cap))
        missing = k - int(np.minimum(above, cap).sum())
        for i, n in enumerate(room.tolist()):
            if missing <= 0:
                break
            if n > 0:
                n = min(n, missing)
                taken.append(classes[i] * r + np.flatnonzero(eq[i])[:n])
                missing -= n
        return np.concatenate(taken)

    def _top(self, c: int) -> np.ndarray:
        """Flat indices into ``v`` of class ``c``'s first ``cap`` entries in detection order (it has more)."""
        row, cap = self.v[c], self.cap
        kth = np.partition(row, row.size - cap)[row.size - cap]
        above = np.flatnonzero(row > kth)
        tied = np.flatnonzero(row == kth)[: cap - above.size]
        return c * row.size + np.concatenate((above, tied))


def _detection_order(values: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The permutation that sorts entries by descending value, then ascending column, then ascending row."""
    return np.lexsort((row, col, -values))


def rank_in_class(col: np.ndarray) -> np.ndarray:
    """int64 [n]: for each entry of the list, how many earlier entries have the same class (column)."""
    order = np.argsort(col, kind="stable")
    sorted_col = col[order]
    first = np.r_[True, sorted_col[1:] != sorted_col[:-1]] if col.size else np.zeros(0, bool)
    starts = np.maximum.accumulate(np.where(first, np.arange(col.size), 0)) if col.size else order
    rank = np.empty_like(order)
    rank[order] = np.arange(col.size) - starts
    return rank


def class_candidates(scores: Tensor, thresh: float, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every class's first ``k`` entries above ``thresh`` in detection order, side by side.

    Args:
        scores: float [P, C] probabilities of the real classes (column c is label c + 1).
        thresh: entries strictly above it count.
        k: per class, >= 1.

    Returns:
        (columns int64 [G]: the classes with at least one entry, ascending;
         prior int64 [G, M], score [G, M], valid bool [G, M]): row g holds class ``columns[g]``'s entries
        in detection order, padded after its last one (``valid`` False); M = the most any class has.
    """
    p, c = scores.shape
    kk = min(k, p)
    if kk == 0 or c == 0:
        empty = torch.zeros((0, 0), dtype=torch.int64)
        return empty.new_zeros(0), empty, scores.new_zeros((0, 0)), torch.zeros((0, 0), dtype=torch.bool)
    # Entries at or below the threshold (NaN included) sort last and are marked invalid.
    masked = scores.masked_fill(~(scores > thresh), -1.0).t()  # [C, P]
    values, prior = masked.topk(kk, dim=1)  # descending; equal values in no defined order
    # Equal values must come in prior order: sort each row by prior, then stably by value.
    prior, _ = prior.sort(dim=1)
    values = masked.gather(1, prior)
    values, order = values.sort(dim=1, descending=True, stable=True)
    prior = prior.gather(1, order)
    last = values[:, -1:]
    # Where entries equal to a row's last value were left out, topk chose among them arbitrarily:
    # such rows are sorted whole (stable: prior order among equals) and cut at k.
    cut_ties = (last[:, 0] > thresh) & ((masked == last).sum(1) > (values == last).sum(1))
    if bool(cut_ties.any()):
        redo = cut_ties.nonzero().squeeze(1)
        v, o = masked[redo].sort(dim=1, descending=True, stable=True)
        values[redo], prior[redo] = v[:, :kk], o[:, :kk]
    valid = values > thresh
    count = valid.sum(1)
    present = (count > 0).nonzero().squeeze(1)
    m = int(count.max())
    return present, prior[present, :m], values[present, :m], valid[present, :m]
