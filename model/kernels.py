"""Compiled (numba) TF-IDF x weights kernels for the batch path of ``model/scoring.py``.

For one block of the fitted pipeline they compute ``scale * (vectorizer.transform(docs) @ weights)`` in
one pass over the batch's characters, without building the sparse matrix: for each text, its n-grams
are counted (an n-gram is one integer, the keys of ``model/features.py``), looked up in an open-addressing
table of the vocabulary's keys, weighted (sublinear tf, ``idf_``, l2 norm) and multiplied into the
classes' weights. They release the GIL, so slices of a batch can run on several threads.

The n-grams are those of scikit-learn's analyzers (as a multiset; the order differs):

- ``char_wb``: each whitespace-separated word padded with one space each side, and its windows of
  ``min_n`` to ``max_n`` characters (``_char_wb_ngrams``; ``FastTfidf`` covers ``min_n`` <= 3 only, so
  no padded word is shorter than ``min_n``).
- ``word`` with the token pattern ``\\b\\w+\\b`` (or ``\\b\\w\\w+\\b``): runs of word characters (of
  ``min_len`` characters at least) as ``re`` defines them (``word_characters``), then their n-grams.

``piece_sums`` serves the word-piece vector block (``model/pieces.py``): the same runs of word
characters, each cut greedily into the longest pieces of a table, their vectors summed.

A text's counts are summed in the order the n-grams are first seen, not in column order as scipy's
product does: the scores agree with ``transform(docs) @ weights`` to float rounding (1e-15 relative on
real data; ``tests/model/test_kernels.py`` checks it at 1e-12 on real and adversarial texts).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
from numba import njit

_GOLDEN = np.uint64(11400714819323198485)  # 2**64 / golden ratio: Fibonacci hashing of the keys
_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@cache
def word_characters() -> np.ndarray:
    """For every code point, whether ``re``'s ``\\w`` matches it (1.1 M booleans, built once from ``re``)."""
    table = np.empty(0x110000, dtype=bool)
    for low in range(0, len(table), 1 << 16):  # a block at a time: a few MB of 1-character strings at once
        block = "".join(map(chr, range(low, low + (1 << 16))))
        kept = re.sub(r"\W", "\x00", block)  # one character for one: positions stay code points
        table[low : low + (1 << 16)] = np.frombuffer(kept.encode("utf-32-le", "surrogatepass"), dtype=np.uint32) != 0
    return table


def table_size(n: int) -> int:
    """Slots for ``n`` keys: a power of two, at most half full."""
    return 1 << max(1, int(2 * n - 1).bit_length())


@njit(cache=True, nogil=True, inline="always")
def _slot(key, shift):
    return np.int64((np.uint64(key) * _GOLDEN) >> shift)


@njit(cache=True, nogil=True, inline="always")
def _shift(size):
    """64 - log2(size): the top bits of the product pick one of ``size`` (a power of two) slots."""
    bits = 0
    while (1 << bits) < size:
        bits += 1
    return np.uint64(64 - bits)


@njit(cache=True, nogil=True)
def build_table(keys, values, size):
    """An open-addressing table (linear probing) of distinct non-negative int64 ``keys``."""
    slot_keys = np.full(size, -1, np.int64)
    slot_values = np.full(size, -1, np.int64)
    mask = size - 1
    shift = _shift(size)
    for t in range(len(keys)):
        i = _slot(keys[t], shift)
        while slot_keys[i] != -1:
            i = (i + 1) & mask
        slot_keys[i] = keys[t]
        slot_values[i] = values[t]
    return slot_keys, slot_values


@njit(cache=True, nogil=True, inline="always")
def _lookup(slot_keys, slot_values, shift, key):
    mask = len(slot_keys) - 1
    i = _slot(key, shift)
    while True:
        k = slot_keys[i]
        if k == key:
            return slot_values[i]
        if k == -1:
            return -1
        i = (i + 1) & mask


def new_scratch(n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A kernel's work arrays for a block of ``n_features`` columns: a row's counts by column (at zero
    between rows), its columns in first-seen order, their values. Reused from call to call (allocating
    them costs more than scoring one question), one set per concurrent call."""
    return np.zeros(n_features, np.int64), np.empty(n_features, np.int64), np.empty(n_features, np.float64)


# Both kernels count an n-gram with the same five lines, written out in each loop: as a helper function
# (inlined or not) it made the character kernel 2x slower (14.5 against 6.5 µs a CLINC150 row).


@njit(cache=True, nogil=True, inline="always")
def _finish_row(out, d, counts, touched, nt, values, idf, sublinear, l2, weights, scale):
    """Adds ``scale`` x the row's TF-IDF (counts of ``touched``) x ``weights`` to ``out[d]``; clears counts."""
    norm2 = 0.0
    for t in range(nt):
        col = touched[t]
        c = counts[col]
        counts[col] = 0
        v = (np.log(c) + 1.0 if sublinear else c * 1.0) * idf[col]
        values[t] = v
        norm2 += v * v
    norm = np.sqrt(norm2) if l2 else 1.0
    classes = weights.shape[1]
    for t in range(nt):
        a = values[t] / norm * scale
        row = weights[touched[t]]
        for k in range(classes):
            out[d, k] += a * row[k]


@njit(cache=True, nogil=True)
def char_wb_scores(
    codes,
    space,
    starts,
    space_code,
    min_n,
    max_n,
    direct,
    slot_keys,
    slot_values,
    idf,
    sublinear,
    l2,
    weights,
    scale,
    out,
    scratch,
):
    """``out[d] += scale * tfidf(doc d) @ weights`` for a ``char_wb`` block. ``codes``: each character's
    code (1-255; 0 = in no vocabulary term); ``space``: whether it is whitespace; doc d is
    ``starts[d]:starts[d + 1]``; ``scratch``: ``new_scratch(len(idf))``, counts at zero (and left so)."""
    counts, touched, values = scratch
    shift, nd = _shift(len(slot_keys)), len(direct)
    for d in range(len(starts) - 1):
        nt = 0
        i, end = starts[d], starts[d + 1]
        while i < end:
            if space[i]:
                i += 1
                continue
            j = i
            while j < end and not space[j]:
                j += 1
            padded = j - i + 2  # " " + word + " "
            # the windows of min_n to max_n characters of the padded word, each start's grown one character
            # at a time: the n-grams _char_wb_ngrams yields (padded words have 3 characters or more, and
            # min_n <= 3), in another order
            for offset in range(padded - min_n + 1):
                key = 0
                for p in range(offset, min(offset + max_n, padded)):
                    c = space_code if p == 0 or p == padded - 1 else codes[i + p - 1]
                    if c == 0:  # in no vocabulary term: nor is any window with it
                        break
                    key = (key << 8) | c
                    if p - offset + 1 >= min_n:
                        col = direct[key] if key < nd else _lookup(slot_keys, slot_values, shift, key)
                        if col >= 0:
                            if counts[col] == 0:
                                touched[nt] = col
                                nt += 1
                            counts[col] += 1
            i = j
        _finish_row(out, d, counts, touched, nt, values, idf, sublinear, l2, weights, scale)


@njit(cache=True, nogil=True, inline="always")
def _hash_chars(cp, a, b):
    h = _FNV_OFFSET
    for p in range(a, b):
        h = (h ^ np.uint64(cp[p])) * _FNV_PRIME
    return h


@njit(cache=True, nogil=True)
def build_token_table(chars, bounds, size):
    """Token ids (1-based) of the tokens ``chars[bounds[t]:bounds[t + 1]]``, by an FNV-1a hash of their code points."""
    slots = np.full(size, -1, np.int64)
    mask = size - 1
    for t in range(len(bounds) - 1):
        i = np.int64(_hash_chars(chars, bounds[t], bounds[t + 1]) & np.uint64(mask))
        while slots[i] != -1:
            i = (i + 1) & mask
        slots[i] = t
    return slots


@njit(cache=True, nogil=True, inline="always")
def _token_id(cp, a, b, slots, chars, bounds):
    """The id of the token ``cp[a:b]``, 0 when no vocabulary term has it (compared character by character)."""
    mask = len(slots) - 1
    i = np.int64(_hash_chars(cp, a, b) & np.uint64(mask))
    while True:
        t = slots[i]
        if t == -1:
            return 0
        s, e = bounds[t], bounds[t + 1]
        if e - s == b - a:
            same = True
            for p in range(b - a):
                if chars[s + p] != cp[a + p]:
                    same = False
                    break
            if same:
                return t + 1
        i = (i + 1) & mask


@njit(cache=True, nogil=True, inline="always")
def _word_run(cp, word, i, end):
    """The next run of word characters in ``cp[i:end]``: (start, stop), start == end when there is none."""
    while i < end and not word[cp[i]]:
        i += 1
    j = i
    while j < end and word[cp[j]]:
        j += 1
    return i, j


@njit(cache=True, nogil=True)
def word_scores(
    cp,
    word,
    starts,
    min_len,
    slots,
    chars,
    bounds,
    base,
    min_n,
    max_n,
    direct,
    slot_keys,
    slot_values,
    idf,
    sublinear,
    l2,
    weights,
    scale,
    out,
    scratch,
):
    """``out[d] += scale * tfidf(doc d) @ weights`` for a ``word`` block whose tokens are the runs of at
    least ``min_len`` word characters (``word[code point]``); ``scratch`` as for ``char_wb_scores``."""
    counts, touched, values = scratch
    shift, nd = _shift(len(slot_keys)), len(direct)
    longest = 1
    for d in range(len(starts) - 1):
        longest = max(longest, starts[d + 1] - starts[d])
    ids = np.empty(longest, np.int64)  # a text's token ids (no more tokens than characters)
    for d in range(len(starts) - 1):
        n_tokens = 0
        i, end = starts[d], starts[d + 1]
        while True:
            i, j = _word_run(cp, word, i, end)
            if i == end:
                break
            if j - i >= min_len:
                ids[n_tokens] = _token_id(cp, i, j, slots, chars, bounds)
                n_tokens += 1
            i = j
        nt = 0
        for n in range(min_n, max_n + 1):
            for s in range(n_tokens - n + 1):
                key = 0
                for p in range(s, s + n):
                    if ids[p] == 0:  # a token in no vocabulary term: no n-gram of it is either
                        key = -1
                        break
                    key = key * base + ids[p]
                if key >= 0:
                    col = direct[key] if key < nd else _lookup(slot_keys, slot_values, shift, key)
                    if col >= 0:
                        if counts[col] == 0:
                            touched[nt] = col
                            nt += 1
                        counts[col] += 1
        _finish_row(out, d, counts, touched, nt, values, idf, sublinear, l2, weights, scale)


@njit(cache=True, nogil=True)
def names_found(cp, word, starts, slots, chars, bounds, stem, min_stem, max_ending):
    """For each text (``starts`` as above): whether one of its runs of word characters is a name of the
    token table (``build_token_table``), or starts with a name of at least ``min_stem`` characters that
    ``stem`` allows an ending, followed by at most ``max_ending`` more (``model/names.py``)."""
    found = np.zeros(len(starts) - 1, np.bool_)
    for d in range(len(starts) - 1):
        i, end = starts[d], starts[d + 1]
        while not found[d]:
            i, j = _word_run(cp, word, i, end)
            if i == end:
                break
            if _token_id(cp, i, j, slots, chars, bounds) != 0:
                found[d] = True
            else:
                for cut in range(max(min_stem, j - i - max_ending), j - i):
                    t = _token_id(cp, i, i + cut, slots, chars, bounds)
                    if t != 0 and stem[t - 1]:
                        found[d] = True
                        break
            i = j
    return found


@njit(cache=True, nogil=True, inline="always")
def _next_piece(buf, p, size, longest, slots, chars, bounds):
    """The longest piece of the token table at ``buf[p:size]``: (its id, where it ends); id 0 when no
    piece starts there."""
    e = min(size, p + longest)
    while e > p:
        t = _token_id(buf, p, e, slots, chars, bounds)
        if t != 0:
            return t, e
        e -= 1
    return 0, p + 1


@njit(cache=True, nogil=True)
def piece_sums(cp, word, starts, prefix, slots, chars, bounds, longest, vectors, projected, scale, sums, out):
    """``sums[d]`` += the vectors of doc d's word pieces (``starts`` as above): each run of word
    characters, with the code point ``prefix`` before it, is cut from left to right into the longest
    pieces of the token table (``build_token_table``; ``vectors[t]`` is piece t's, none longer than
    ``longest``); a character that no piece starts with is skipped.

    With ``projected`` (each piece's vector times the classes' weights: pieces x classes) also
    ``out[d] += scale / |sums[d]| * (sum of the pieces' projected rows)``, the classes' scores of the
    unit-length sum, without a product per text; ``projected`` with no columns skips that."""
    n_rows = len(starts) - 1
    longest_text = 0
    for d in range(n_rows):
        longest_text = max(longest_text, starts[d + 1] - starts[d])
    buf = np.empty(longest_text + 1, cp.dtype)  # prefix + one word
    dim, classes = vectors.shape[1], projected.shape[1]
    row_scores = np.empty(classes)
    for d in range(n_rows):
        row_scores[:] = 0.0
        i, end = starts[d], starts[d + 1]
        while True:
            i, j = _word_run(cp, word, i, end)
            if i == end:
                break
            size = j - i + 1
            buf[0] = prefix
            buf[1:size] = cp[i:j]
            p = 0
            while p < size:
                t, p = _next_piece(buf, p, size, longest, slots, chars, bounds)
                if t != 0:
                    v = vectors[t - 1]
                    for k in range(dim):
                        sums[d, k] += v[k]
                    q = projected[t - 1]
                    for k in range(classes):
                        row_scores[k] += q[k]
            i = j
        if classes:
            norm2 = 0.0
            for k in range(dim):
                norm2 += sums[d, k] * sums[d, k]
            if norm2 > 0.0:
                a = scale / np.sqrt(norm2)
                for k in range(classes):
                    out[d, k] += a * row_scores[k]
