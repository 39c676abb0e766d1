/* The tagger's per-token loops in C: optional, loaded with ctypes by pipeline/tagger/kernel.py.
 *
 * Each function is the exact counterpart of a NumPy or Python path (tests/test_fast_paths.py runs
 * both and asks for the same bytes):
 *   tk_token_ids   - tokens of normalised texts looked up in the vocabulary's hash table
 *                    (Scorer._doc_token_ids with _token_words and _KeyTable.find);
 *   tk_sums        - per statement, the sums over its distinct tokens and distinct known bigrams
 *                    (Scorer._sums);
 *   tk_gram_scores - the character n-gram block of tokens never seen in training (Scorer._gram_scores);
 *   tk_normalise   - text.normalise_many's per-character mapping;
 *   tk_scores_json - json.dumps of each statement's rounded scores (store.tag_columns).
 * Sums are taken in the order NumPy takes them (ascending token id, then bigram position, each
 * block summed from zero on its own and then added), so the scores are bit for bit the same;
 * tests/test_kernel.py holds the two paths to that on real statements.
 * No allocation but the scratch the caller passes; no Python API (plain C99, any compiler).
 */
#include <stdint.h>
#include <stddef.h>
#include <math.h>

#define GOLDEN 0x9E3779B97F4A7C15ULL
/* A hint to fetch a cache line ahead of its use (no effect on results); how far ahead. */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((const void *)(p))
#else
#define PREFETCH(p) ((void)0)
#endif
#define AHEAD 8

/* The version of this interface: kernel.py refuses a library that says another. */
int tk_version(void) { return 7; }

/* The slot a _KeyTable's key (a, b) starts its search at (_KeyTable._slot). ncols is 1 (b unused) or 2. */
static inline uint64_t home_slot(uint64_t a, uint64_t b, int ncols, int shift) {
    uint64_t h = a * GOLDEN;
    if (ncols == 2) h = (h ^ b) * GOLDEN;
    return h >> shift;
}

/* Where the key (a, b) sits among a _KeyTable's keys, searching from its home slot, or -1. */
static inline int64_t probe(uint64_t slot, uint64_t a, uint64_t b, int ncols, const int32_t *slots, uint64_t mask,
                            int64_t nkeys, const uint64_t *k1, const uint64_t *k2) {
    for (;;) {
        int64_t idx = slots[slot];
        if (idx == nkeys) return -1;
        if (k1[idx] == a && (ncols == 1 || k2[idx] == b)) return idx;
        slot = (slot + 1) & mask;
    }
}

static inline int64_t find_key(uint64_t a, uint64_t b, int ncols, const int32_t *slots, uint64_t mask,
                               int shift, int64_t nkeys, const uint64_t *k1, const uint64_t *k2) {
    return probe(home_slot(a, b, ncols, shift), a, b, ncols, slots, mask, nkeys, k1, k2);
}

/* The first n (0..8) bytes at p as a little-endian integer. */
static inline uint64_t word_at(const uint8_t *p, int64_t n) {
    uint64_t w = 0;
    for (int64_t i = n - 1; i >= 0; i--) w = (w << 8) | p[i];
    return w;
}

/* Tokens of data (texts joined by newlines; tokens are runs of bytes other than the space and the
 * newline): start, end and vocabulary id (-1 when the table lacks it or it is longer than 16
 * bytes), and each text's number of tokens in lens (n_texts of them, zeroed here). Returns the
 * number of tokens written, at most cap. */
int64_t tk_token_ids(const uint8_t *data, int64_t n, const int32_t *slots, uint64_t mask, int shift,
                     int64_t nkeys, const uint64_t *k1, const uint64_t *k2, const int64_t *key_ids,
                     int64_t cap, int64_t *ids, int64_t *starts, int64_t *ends, int64_t *lens, int64_t n_texts) {
    /* In blocks of tokens: split and hash a block (asking for its slots from memory), then read
     * the slots (asking for the keys they name), then compare: the memory reads of a block are
     * under way together instead of one token after another. */
    enum { BLOCK = 32 };
    uint64_t wa[BLOCK], wb[BLOCK], slot[BLOCK];
    int64_t m = 0, i = 0, text = 0;
    for (int64_t t = 0; t < n_texts; t++) lens[t] = 0;
    while (m < cap) {
        int64_t first = m, nblock = 0;
        while (nblock < BLOCK && m < cap) {
            while (i < n && (data[i] == ' ' || data[i] == '\n')) {
                if (data[i] == '\n') text++;
                i++;
            }
            if (i >= n) break;
            int64_t s = i;
            while (i < n && data[i] != ' ' && data[i] != '\n') i++;
            int64_t len = i - s;
            starts[m] = s;
            ends[m] = i;
            if (text < n_texts) lens[text]++;
            if (len <= 16) {
                uint64_t a = word_at(data + s, len < 8 ? len : 8);
                uint64_t b = len > 8 ? word_at(data + s + 8, len - 8) : 0;
                wa[nblock] = a;
                wb[nblock] = b;
                slot[nblock] = home_slot(a, b, 2, shift);
                PREFETCH(slots + slot[nblock]);
            } else {
                slot[nblock] = UINT64_MAX;  /* longer than the table's keys */
            }
            nblock++;
            m++;
        }
        if (!nblock) break;
        for (int64_t j = 0; j < nblock; j++) {
            int64_t x = slot[j] == UINT64_MAX ? nkeys : slots[slot[j]];
            if (x != nkeys) { PREFETCH(k1 + x); PREFETCH(k2 + x); PREFETCH(key_ids + x); }
        }
        for (int64_t j = 0; j < nblock; j++) {
            int64_t at = slot[j] == UINT64_MAX ? -1 : probe(slot[j], wa[j], wb[j], 2, slots, mask, nkeys, k1, k2);
            ids[first + j] = at >= 0 ? key_ids[at] : -1;
        }
    }
    return m;
}

static void sort_i64(int64_t *a, int64_t n) {
    /* Quicksort with a median of three, insertion sort for short runs; recursion on the smaller
     * side only, so the stack stays logarithmic. */
    while (n > 24) {
        int64_t x = a[0], y = a[n / 2], z = a[n - 1];
        int64_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i >= j) break;
            int64_t t = a[i]; a[i] = a[j]; a[j] = t;
            i++; j--;
        }
        int64_t left = j + 1;
        if (left < n - left) { sort_i64(a, left); a += left; n -= left; }
        else { sort_i64(a + left, n - left); n = left; }
    }
    for (int64_t i = 1; i < n; i++) {
        int64_t v = a[i], j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
}

/* Sort and drop repeats; returns the new length. */
static int64_t sorted_unique(int64_t *a, int64_t n) {
    if (n <= 1) return n;
    sort_i64(a, n);
    int64_t m = 1;
    for (int64_t i = 1; i < n; i++)
        if (a[i] != a[m - 1]) a[m++] = a[i];
    return m;
}

/* Per statement (lens[d] token ids each, flat in ids; known tokens < n_tok, unseen ones
 * n_tok + e with their row extra_rows[e] in the unseen cache):
 *   score_w[d, :] = sum of the word weights over distinct known tokens, plus (summed apart) the
 *                   bigram weights over distinct known bigrams of consecutive known tokens;
 *   sq_w[d]       = likewise idf^2 of the tokens, plus that of the bigrams;
 *   score_c, sq_c = the char-gram weights and squared norms of distinct known tokens, plus (apart)
 *                   the unseen cache's scores and sq of distinct unseen tokens;
 *   held[d, :]    = OR of the flag words of its distinct tokens (known: in their record, unseen:
 *                   u_bits).
 * A known token's record (tok, rec doubles a token): word weights (k), char weights (k), idf^2,
 * char squared norm, then its flag words (the bits of uint64s); a bigram's (bigram_rec, k + 1
 * doubles): weights (k), idf^2. One or two cache lines a token instead of five arrays.
 * Bigrams are found in their _KeyTable when bslots is given, else by binary search of the sorted
 * bigram_keys. Outputs are written whole. scratch and scratch2 hold max(lens) + 1 int64 each. */
void tk_sums(int64_t n_docs, const int64_t *lens, const int64_t *ids, int64_t n_tok, int64_t k, int64_t words,
             const double *tok, int64_t rec,
             const int64_t *extra_rows, const double *u_scores, const double *u_sq, const uint64_t *u_bits,
             const int64_t *bigram_keys, int64_t nb, const int32_t *bslots, uint64_t bmask, int bshift,
             const double *bigram_rec,
             double *score_w, double *sq_w, double *score_c, double *sq_c, uint64_t *held,
             int64_t *scratch, int64_t *scratch2) {
    double acc[64], acc2[64];
    const uint64_t *bk = (const uint64_t *)bigram_keys;
    int64_t off = 0;
    for (int64_t d = 0; d < n_docs; d++) {
        int64_t len = lens[d];
        const int64_t *tk = ids + off;
        off += len;
        double *sw = score_w + d * k, *sc = score_c + d * k;
        uint64_t *hd = held + d * words;
        for (int64_t c = 0; c < k; c++) { sw[c] = 0.0; sc[c] = 0.0; }
        for (int64_t w = 0; w < words; w++) hd[w] = 0;
        double qw = 0.0, qc = 0.0;
        for (int64_t i = 0; i < len; i++) scratch[i] = tk[i];
        int64_t m = sorted_unique(scratch, len);
        int64_t i = 0;
        /* known tokens, ascending (their records asked for from memory a few tokens ahead: the
         * loop waits on memory, not on arithmetic) */
        for (int64_t p = 0; p < m && p < AHEAD; p++)
            if (scratch[p] < n_tok) PREFETCH(tok + scratch[p] * rec);
        for (; i < m && scratch[i] < n_tok; i++) {
            if (i + AHEAD < m && scratch[i + AHEAD] < n_tok) PREFETCH(tok + scratch[i + AHEAD] * rec);
            const double *r = tok + scratch[i] * rec;
            for (int64_t c = 0; c < k; c++) { sw[c] += r[c]; sc[c] += r[k + c]; }
            qw += r[2 * k];
            qc += r[2 * k + 1];
            const uint64_t *rb = (const uint64_t *)(r + 2 * k + 2);
            for (int64_t w = 0; w < words; w++) hd[w] |= rb[w];
        }
        /* unseen tokens, ascending: their char-gram block summed apart, then added */
        if (i < m) {
            double uq = 0.0;
            for (int64_t c = 0; c < k; c++) acc[c] = 0.0;
            for (; i < m; i++) {
                int64_t row = extra_rows[scratch[i] - n_tok];
                const double *us = u_scores + row * k;
                for (int64_t c = 0; c < k; c++) acc[c] += us[c];
                uq += u_sq[row];
                for (int64_t w = 0; w < words; w++) hd[w] |= u_bits[row * words + w];
            }
            for (int64_t c = 0; c < k; c++) sc[c] += acc[c];
            qc += uq;
        }
        /* bigrams of consecutive known tokens found among the model's, distinct positions ascending;
         * with the hash table, in three passes over the statement's bigrams (keys and their slots,
         * then the slots' entries, then the keys compared) so that the memory reads of many
         * bigrams are under way at once instead of one after the other */
        int64_t nh = 0;
        if (nb > 0 && bslots != NULL) {
            int64_t nk = 0;
            for (int64_t j = 0; j + 1 < len; j++) {
                int64_t a = tk[j], b = tk[j + 1];
                if (a >= n_tok || b >= n_tok) continue;
                int64_t key = a * n_tok + b;
                uint64_t slot = home_slot((uint64_t)key, 0, 1, bshift);
                scratch2[nk] = key;
                scratch[nk] = (int64_t)slot;
                PREFETCH(bslots + slot);
                nk++;
            }
            for (int64_t j = 0; j < nk; j++) {
                int64_t idx = bslots[scratch[j]];
                if (idx != nb) PREFETCH(bk + idx);
            }
            for (int64_t j = 0; j < nk; j++) {
                int64_t pos = probe((uint64_t)scratch[j], (uint64_t)scratch2[j], 0, 1, bslots, bmask, nb, bk, NULL);
                if (pos >= 0) {
                    PREFETCH(bigram_rec + pos * (k + 1));
                    scratch2[nh++] = pos;  /* nh <= j: the keys still to read are not overwritten */
                }
            }
        } else if (nb > 0) {
            for (int64_t j = 0; j + 1 < len; j++) {
                int64_t a = tk[j], b = tk[j + 1];
                if (a >= n_tok || b >= n_tok) continue;
                int64_t key = a * n_tok + b;
                int64_t lo = 0, hi = nb;  /* first position whose key is >= key */
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (bigram_keys[mid] < key) lo = mid + 1; else hi = mid;
                }
                if (lo < nb && bigram_keys[lo] == key) scratch2[nh++] = lo;
            }
        }
        if (nh) {
            nh = sorted_unique(scratch2, nh);
            double bq = 0.0;
            for (int64_t c = 0; c < k; c++) acc2[c] = 0.0;
            for (int64_t j = 0; j < nh; j++) {
                const double *r = bigram_rec + scratch2[j] * (k + 1);
                for (int64_t c = 0; c < k; c++) acc2[c] += r[c];
                bq += r[k];
            }
            for (int64_t c = 0; c < k; c++) sw[c] += acc2[c];
            qw += bq;
        }
        sq_w[d] = qw;
        sq_c[d] = qc;
    }
}

/* Normalised texts (text.normalise_many's fast path, a code point at a time). ``in``: the texts,
 * UTF-8, joined by newlines (none holds one). ASCII bytes map through ``ascii`` (lower case, every
 * non-word character but the hyphen a space); a code point c in 0x80..limit-1 maps to the bytes
 * blob[span[2 (c - 0x80)] .. span[2 (c - 0x80) + 1]) when span[2 (c - 0x80)] >= 0. A text holding any other
 * code point is left empty and marked in ``fallback`` (the caller normalises it in Python). Runs
 * of spaces become one, none at either end of a text. Returns the bytes written (texts joined by
 * newlines), or -1 if ``cap`` was too small. */
int64_t tk_normalise(const uint8_t *in, int64_t n, const uint8_t *ascii, const int32_t *span,
                     const uint8_t *blob, int64_t limit, uint8_t *out, int64_t cap, uint8_t *fallback) {
    int64_t o = 0, text = 0, text_start = 0, i = 0;
    int pending = 0;  /* a space is owed before the next word byte of this text */
#define EMIT(b) do { \
        uint8_t _b = (b); \
        if (_b == ' ') { if (o > text_start) pending = 1; } \
        else { if (pending) { if (o >= cap) return -1; out[o++] = ' '; pending = 0; } \
               if (o >= cap) return -1; out[o++] = _b; } \
    } while (0)
    while (i < n) {
        uint8_t b = in[i];
        if (b == '\n') {
            if (o >= cap) return -1;
            out[o++] = '\n';
            text_start = o;
            pending = 0;
            text++;
            i++;
            continue;
        }
        if (b < 0x80) { EMIT(ascii[b]); i++; continue; }
        int64_t c, len;
        if ((b & 0xE0) == 0xC0 && i + 1 < n) { c = ((int64_t)(b & 0x1F) << 6) | (in[i + 1] & 0x3F); len = 2; }
        else if ((b & 0xF0) == 0xE0 && i + 2 < n) {
            c = ((int64_t)(b & 0x0F) << 12) | ((int64_t)(in[i + 1] & 0x3F) << 6) | (in[i + 2] & 0x3F); len = 3;
        } else { c = limit; len = 1; }  /* four-byte code points are beyond any table */
        if (c < limit && span[2 * (c - 0x80)] >= 0) {
            for (int32_t j = span[2 * (c - 0x80)]; j < span[2 * (c - 0x80) + 1]; j++) EMIT(blob[j]);
            i += len;
            continue;
        }
        /* not handled here: the whole text goes to Python */
        fallback[text] = 1;
        o = text_start;
        pending = 0;
        while (i < n && in[i] != '\n') i++;
    }
#undef EMIT
    return o;
}

/* Each row of scores (n rows of k doubles, each already rounded to 4 decimals in [0, 1]) as the
 * JSON object json.dumps writes for it: seg[j] (seg_off[j] .. seg_off[j + 1] in segs: '{"name":'
 * for the first topic, ',"name":' after) before each score, then '}'; rows joined by newlines.
 * A score is written as Python's repr writes it: the shortest decimal that reads back as the same
 * double, which for k / 10000 is that fraction with its trailing zeros dropped ("0.0123", "0.5",
 * "1.0", "0.0"). Returns the bytes written, or -1 when a score is not such a number or cap was too
 * small (the caller then formats them in Python). */
int64_t tk_scores_json(const double *scores, int64_t n, int64_t k, const uint8_t *segs, const int64_t *seg_off,
                       uint8_t *out, int64_t cap) {
    int64_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i) { if (o >= cap) return -1; out[o++] = '\n'; }
        for (int64_t j = 0; j < k; j++) {
            double x = scores[i * k + j];
            if (!(x >= 0.0 && x <= 1.0) || signbit(x)) return -1;  /* json writes -0.0 */
            int64_t q = (int64_t)(x * 10000.0 + 0.5);
            if ((double)q / 10000.0 != x) {
                q = (int64_t)(x * 10000.0);  /* x * 10000 may round just past the half */
                if ((double)q / 10000.0 != x && (double)(q + 1) / 10000.0 != x) return -1;
                if ((double)q / 10000.0 != x) q++;
            }
            int64_t len = seg_off[j + 1] - seg_off[j];
            if (o + len + 8 > cap) return -1;
            for (int64_t b = 0; b < len; b++) out[o++] = segs[seg_off[j] + b];
            out[o++] = (uint8_t)('0' + q / 10000);
            out[o++] = '.';
            int64_t frac = q % 10000;
            if (frac == 0) { out[o++] = '0'; continue; }
            char d[4] = {(char)('0' + frac / 1000), (char)('0' + frac / 100 % 10), (char)('0' + frac / 10 % 10),
                         (char)('0' + frac % 10)};
            int last = 3;
            while (d[last] == '0') last--;
            for (int b = 0; b <= last; b++) out[o++] = (uint8_t)d[b];
        }
        if (o >= cap) return -1;
        out[o++] = '}';
    }
    return o;
}

/* The character n-gram block of tokens never seen in training (Scorer._unseen_rows): for each of
 * n ASCII tokens (data[starts[i] .. ends[i])), its n-grams of lo..hi bytes (hi <= 7) with a space
 * before and after the token, found in the model's gram table (_KeyTable of the grams' bytes,
 * little-endian, and their length in the top byte; gram_cols: the column of each key), distinct
 * columns ascending; then scores[i, :] = sum of w_char[col, :] * idf[col] and sq[i] = sum of
 * idf[col]^2 over them, in that order. scratch holds (hi - lo + 1) * (longest token + 2) int64. */
void tk_gram_scores(const uint8_t *data, const int64_t *starts, const int64_t *ends, int64_t n, int lo, int hi,
                    const int32_t *slots, uint64_t mask, int shift, int64_t nkeys, const uint64_t *keys,
                    const int64_t *gram_cols, const double *w_char, const double *idf, int64_t k,
                    double *scores, double *sq, int64_t *scratch) {
    uint8_t buf[4096];
    for (int64_t i = 0; i < n; i++) {
        int64_t len = ends[i] - starts[i];
        double *out = scores + i * k;
        for (int64_t c = 0; c < k; c++) out[c] = 0.0;
        sq[i] = 0.0;
        if (len + 2 > (int64_t)sizeof(buf)) len = (int64_t)sizeof(buf) - 2;  /* caller sends none so long */
        buf[0] = ' ';
        for (int64_t b = 0; b < len; b++) buf[b + 1] = data[starts[i] + b];
        buf[len + 1] = ' ';
        int64_t w = len + 2, m = 0;
        for (int g = lo; g <= hi; g++) {
            for (int64_t p = 0; p + g <= w; p++) {
                uint64_t key = word_at(buf + p, g) | ((uint64_t)g << 56);
                int64_t at = find_key(key, 0, 1, slots, mask, shift, nkeys, keys, NULL);
                if (at >= 0) scratch[m++] = gram_cols[at];
            }
        }
        m = sorted_unique(scratch, m);
        double q = 0.0;
        for (int64_t j = 0; j < m; j++) {
            int64_t col = scratch[j];
            const double *wc = w_char + col * k;
            double f = idf[col];
            for (int64_t c = 0; c < k; c++) out[c] += wc[c] * f;
            q += f * f;
        }
        sq[i] = q;
    }
}
