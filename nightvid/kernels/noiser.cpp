// NoiSER fused on the CPU: conv3x3(3->32) -> normalise -> GELU -> conv3x3(32->3) -> tanh
// -> colour post-step, one row at a time, so the 32-channel map never leaves the cache.
//
// Why: eager, ONNX Runtime and AOTInductor all write the 32-channel map (118 MB per 720p
// frame in fp32) to memory and read it back several times; this kernel touches memory
// only for the 3-channel input and output. Instance norm needs whole-frame statistics
// before the GELU, so a first pass (nv_noiser_stats) sums the 27-value input patches and
// their outer products; Python turns them into the per-channel mean and variance of
// conv1's output and folds them into conv1's weights (nightvid/engines/noiser_fold.py).
//
// Layout: images are float (3, H, W) planes with any element strides, values in [0, 1]
// (the Enhancer's input). Patch index k = ci * 9 + dy * 3 + dx, as in conv weights.
// Replicate padding on both convolutions, as the net. Built by nightvid/native.py with
// the host compiler (-O3 -march=native -fopenmp); vectors are GCC vector extensions,
// so the same source compiles to AVX-512, AVX2 or NEON.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

constexpr int V = 16;        // floats per vector
constexpr int HID = 32;      // hidden channels (the shipped NoiSER)
constexpr int K = 27;        // 3 channels x 3 x 3 patch
constexpr int Z = 27;        // conv2 contributions per hidden pixel: 9 taps x 3 outputs
constexpr int PAIRS = K * (K + 1) / 2;

typedef float vf __attribute__((vector_size(V * sizeof(float))));

inline vf ld(const float* p) {
    vf v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void st(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf splat(float x) {  // `vf{} + x` would add 0.0f in scalar code first (-0.0 + 0.0 is +0.0)
    return vf{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}
inline vf vmin(vf a, vf b) { return a < b ? a : b; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }

// a / b to within 2 ulp: the reciprocal estimate and one Newton step where AVX-512 has
// it (a division is 10+ cycles a vector, and GELU needs 32 per pixel), else a division.
inline vf vdiv(vf a, vf b) {
#if defined(__AVX512F__)
    vf r = (vf)_mm512_rcp14_ps((__m512)b);
    r = r * (2.0f - b * r);
    return a * r;
#else
    return a / b;
#endif
}

// erf as Eigen's rational approximation (|error| ~1e-7 on [-4, 4], +-1 outside).
inline vf verf(vf x) {
    x = vmin(vmax(x, splat(-4.0f)), splat(4.0f));
    const vf x2 = x * x;
    vf p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p + -2.10102402082508e-06f;
    p = x2 * p + -5.69250639462346e-05f;
    p = x2 * p + -7.34990630326855e-04f;
    p = x2 * p + -2.95459980854025e-03f;
    p = x2 * p + -1.60960333262415e-02f;
    p = x * p;
    vf q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
    q = x2 * q + -1.68282697438203e-03f;
    q = x2 * q + -7.37332916720468e-03f;
    q = x2 * q + -1.42647390514189e-02f;
    return vdiv(p, q);
}

// Exact (erf) GELU, as nn.GELU().
inline vf vgelu(vf x) { return 0.5f * x * (1.0f + verf(x * 0.70710678118654752f)); }

// tanh as Eigen's rational approximation (a few ulp; saturates to +-1 beyond 7.9).
inline vf vtanh(vf x) {
    x = vmin(vmax(x, splat(-7.90531110763549805f)), splat(7.90531110763549805f));
    const vf x2 = x * x;
    vf p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = x2 * p + -8.60467152213735e-11f;
    p = x2 * p + 5.12229709037114e-08f;
    p = x2 * p + 1.48572235717979e-05f;
    p = x2 * p + 6.37261928875436e-04f;
    p = x2 * p + 4.89352455891786e-03f;
    p = x * p;
    vf q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = x2 * q + 2.26843463243900e-03f;
    q = x2 * q + 4.89352518554385e-03f;
    return vdiv(p, q);
}

// A 3-channel image of floats in [0, 1] or of 8-bit levels, any strides, read per channel
// as max(value * scale[c] + shift[c], 0): 8-bit levels with scale 1/255, and the
// Enhancer's black-floor step (nets.colour.neutral_black) folded in for 8-bit frames.
template <typename T>
struct Image {
    const T* data;
    long sc, sy, sx;
    int h, w;
    float scale[3];
    float shift[3];
};

// Where results go: floats as they are, or 8-bit levels rounded half to even (as torch)
// after `scale` (255 times the engine's gain).
template <typename T>
struct Target {
    T* data;
    long sc, sy, sx;
    float scale;
    // Row y from three planes `stride` apart; interleaved 8-bit RGB (decoded frames) in
    // one vectorised pass, anything else a plane at a time.
    void put_row(int y, const float* planes, int stride, int w) const {
        if constexpr (!std::is_same_v<T, float>) {
            if (sx == 3 && sc == 1) {
                T* dst = data + y * sy;
                const float *r = planes, *g = planes + stride, *b = planes + 2 * stride;
                for (int x = 0; x < w; ++x) {
                    dst[3 * x] = (T)std::nearbyint(std::min(std::max(r[x] * scale, 0.0f), 255.0f));
                    dst[3 * x + 1] = (T)std::nearbyint(std::min(std::max(g[x] * scale, 0.0f), 255.0f));
                    dst[3 * x + 2] = (T)std::nearbyint(std::min(std::max(b[x] * scale, 0.0f), 255.0f));
                }
                return;
            }
        }
        for (int c = 0; c < 3; ++c) put(c, y, planes + c * stride, w);
    }

    void put(int c, int y, const float* row, int w) const {
        T* dst = data + c * sc + y * sy;
        for (int x = 0; x < w; ++x) {
            if constexpr (std::is_same_v<T, float>) {
                dst[x * sx] = row[x];
            } else {
                dst[x * sx] = (T)std::nearbyint(std::min(std::max(row[x] * scale, 0.0f), 255.0f));
            }
        }
    }
};

inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Input rows as float planes, each converted once: get(y) is row y's 3 channels, `width`
// apart, padded by one replicated column on the left and replicated up to `width` on the
// right (so entry x + dx of a plane is patch column dx of pixel x). Three slots: a hidden
// row needs rows r-1, r, r+1, which differ modulo 3.
template <typename T>
class Rows {
   public:
    Rows(const Image<T>& im, int width) : im_(im), width_(width), buf_(3 * 3 * width), tag_{-1, -1, -1} {}

    const float* get(int y) {
        float* planes = buf_.data() + (y % 3) * 3 * width_;
        if (tag_[y % 3] != y) {
            tag_[y % 3] = y;
            if (im_.sx == 3 && im_.sc == 1) {  // interleaved RGB (decoded frames): one pass, vectorised
                const T* src = im_.data + y * im_.sy;
                float *r = planes + 1, *g = planes + width_ + 1, *b = planes + 2 * width_ + 1;
                const float kr = im_.scale[0], kg = im_.scale[1], kb = im_.scale[2];
                const float sr = im_.shift[0], sg = im_.shift[1], sb = im_.shift[2];
                for (int x = 0; x < im_.w; ++x) {
                    r[x] = std::max(src[3 * x] * kr + sr, 0.0f);
                    g[x] = std::max(src[3 * x + 1] * kg + sg, 0.0f);
                    b[x] = std::max(src[3 * x + 2] * kb + sb, 0.0f);
                }
            }
            for (int c = 0; c < 3; ++c) {
                const T* src = im_.data + c * im_.sc + y * im_.sy;
                float* row = planes + c * width_;
                const float k = im_.scale[c], sh = im_.shift[c];
                const long sx = im_.sx;
                if (sx == 3 && im_.sc == 1) {
                    // converted above
                } else if (sx == 1) {
                    for (int x = 0; x < im_.w; ++x) row[x + 1] = std::max(src[x] * k + sh, 0.0f);
                } else {
                    for (int x = 0; x < im_.w; ++x) row[x + 1] = std::max(src[x * sx] * k + sh, 0.0f);
                }
                row[0] = row[1];
                std::fill(row + im_.w + 1, row + width_, row[im_.w]);
            }
        }
        return planes;
    }

    // Patch rows of hidden row r: rows[c * 3 + dy] is channel c of row clamp(r + dy - 1).
    void patch_rows(int r, const float* rows[9]) {
        for (int dy = 0; dy < 3; ++dy) {
            const float* planes = get(clampi(r + dy - 1, 0, im_.h - 1));
            for (int c = 0; c < 3; ++c) rows[c * 3 + dy] = planes + c * width_;
        }
    }

   private:
    const Image<T>& im_;
    int width_;
    std::vector<float> buf_;
    int tag_[3];
};

inline int round_up(int n, int m) { return (n + m - 1) / m * m; }

// Work split of `rows` rows among `parts`: the first row of part `i`.
inline int split(int rows, int parts, int i) { return (int)((long)rows * i / parts); }

constexpr int CHUNK = 128;  // pixels of a row whose patches are summed together (L1-resident)
constexpr int CV = CHUNK / V;

// Row-pair sums of one chunk of patches: acc[pair] += p_i * p_j, acc1[i] += p_i. `p` holds
// the chunk's 27 patch rows, aligned, zero past the image. Eight pairs at a time, so each
// patch vector loaded serves eight FMAs from registers.
void stats_chunk(const vf (*p)[CV], vf* acc1, vf* acc2) {
    int n = 0;
    for (int i = 0; i < K; ++i) {
        vf sum = acc1[i];
        for (int v = 0; v < CV; ++v) sum += p[i][v];
        acc1[i] = sum;
        for (int j0 = i; j0 < K; j0 += 8, n += 8) {
            vf acc[8];
            const vf* pj[8];
#pragma GCC unroll 8
            for (int jj = 0; jj < 8; ++jj) {
                acc[jj] = acc2[n + jj];
                pj[jj] = p[std::min(j0 + jj, K - 1)];
            }
            for (int v = 0; v < CV; ++v) {
                const vf a = p[i][v];
#pragma GCC unroll 8
                for (int jj = 0; jj < 8; ++jj) acc[jj] += a * pj[jj][v];
            }
#pragma GCC unroll 8
            for (int jj = 0; jj < 8; ++jj) acc2[n + jj] = acc[jj];
        }
    }
}

// Pair slots of stats_chunk: for each i, groups of eight j from i (the last padded).
constexpr int slots() {
    int n = 0;
    for (int i = 0; i < K; ++i) n += (K - i + 7) / 8 * 8;
    return n;
}

// One row's patch sums, the plain way (every pair of the 27 patch values): used for the
// first and last output rows, whose clamped patches repeat a row.
template <typename T>
void stats_edge_row(Rows<T>& cache, int w, int width, const float* centre, int r, double* s1, double* s2) {
    const float* rows[9];
    std::vector<vf> acc1(K), acc2(slots()), chunk(K * CV);
    vf(*p)[CV] = reinterpret_cast<vf(*)[CV]>(chunk.data());
    cache.patch_rows(r, rows);
    for (int x0 = 0; x0 < w; x0 += CHUNK) {
        const int valid = std::min(CHUNK, w - x0);
        for (int k = 0; k < K; ++k) {
            float* dst = reinterpret_cast<float*>(p[k]);
            const float* src = rows[k / 3] + x0 + k % 3;
            const float m = centre[k / 9];
            for (int x = 0; x < CHUNK; ++x) dst[x] = x < valid ? src[x] - m : 0.0f;
        }
        stats_chunk(p, acc1.data(), acc2.data());
    }
    int n = 0;
    for (int i = 0; i < K; ++i) {
        double t = 0;
        for (int l = 0; l < V; ++l) t += acc1[i][l];
        s1[i] += t;
        for (int j0 = i; j0 < K; j0 += 8, n += 8) {
            for (int jj = 0; jj < 8 && j0 + jj < K; ++jj) {
                double u = 0;
                for (int l = 0; l < V; ++l) u += acc2[n + jj][l];
                s2[i * K + j0 + jj] += u;
                if (i != j0 + jj) s2[(j0 + jj) * K + i] += u;
            }
        }
    }
}

constexpr int Q = 9;  // values of one input row in a patch: 3 channels x 3 columns

// acc[i * 9 + j] += a_i * b_j over a chunk: the products of row a's (c, dx) values with
// row b's; nine accumulators in registers per a_i.
void row_pair_chunk(const vf (*a)[CV], const vf (*b)[CV], vf* acc) {
    for (int i = 0; i < Q; ++i) {
        vf sum[Q];
#pragma GCC unroll 9
        for (int j = 0; j < Q; ++j) sum[j] = acc[i * Q + j];
        for (int v = 0; v < CV; ++v) {
            const vf x = a[i][v];
#pragma GCC unroll 9
            for (int j = 0; j < Q; ++j) sum[j] += x * b[j][v];
        }
#pragma GCC unroll 9
        for (int j = 0; j < Q; ++j) acc[i * Q + j] = sum[j];
    }
}

// The output rows 1..H-2 (no clamped row in their patches), from input rows [a0, a1).
// Output row r's patch rows are inputs r-1, r, r+1, so the product of patch values at
// rows dy and dy + L is a product of input rows a = r + dy - 1 and a + L: each input row
// pairs with itself and the two below (243 products a pixel instead of 378), and row a's
// sums go to every patch block (dy, dy + L) whose output row r = a - dy + 1 is interior.
template <typename T>
void stats_inner_rows(const Image<T>& im, const float* centre, int a0, int a1, double* s1, double* s2) {
    const int w = im.w, width = round_up(w, CHUNK) + 2;
    Rows<T> cache(im, width);
    std::vector<vf> chunk(3 * Q * CV), acc(3 * Q * Q), sums(Q);
    auto rows = [&](int lag) { return reinterpret_cast<vf(*)[CV]>(chunk.data() + lag * Q * CV); };
    double d[3][Q * Q], t[Q];
    for (int a = a0; a < a1; ++a) {
        const int lags = std::min(3, im.h - a);
        std::fill(acc.begin(), acc.end(), vf{});
        std::fill(sums.begin(), sums.end(), vf{});
        for (int x0 = 0; x0 < w; x0 += CHUNK) {
            const int valid = std::min(CHUNK, w - x0);
            for (int lag = 0; lag < lags; ++lag) {
                const float* planes = cache.get(a + lag);
                for (int q = 0; q < Q; ++q) {
                    float* dst = reinterpret_cast<float*>(rows(lag)[q]);
                    const float* src = planes + (q / 3) * width + x0 + q % 3;
                    const float m = centre[q / 3];
                    for (int x = 0; x < CHUNK; ++x) dst[x] = x < valid ? src[x] - m : 0.0f;
                }
            }
            for (int q = 0; q < Q; ++q)
                for (int v = 0; v < CV; ++v) sums[q] += rows(0)[q][v];
            for (int lag = 0; lag < lags; ++lag) row_pair_chunk(rows(0), rows(lag), acc.data() + lag * Q * Q);
        }
        // Float lanes hold at most a row's worth of terms; rows add up in double.
        for (int q = 0; q < Q; ++q) {
            t[q] = 0;
            for (int l = 0; l < V; ++l) t[q] += sums[q][l];
        }
        for (int lag = 0; lag < lags; ++lag)
            for (int n = 0; n < Q * Q; ++n) {
                d[lag][n] = 0;
                for (int l = 0; l < V; ++l) d[lag][n] += acc[lag * Q * Q + n][l];
            }
        for (int dy = 0; dy < 3; ++dy) {
            const int r = a - dy + 1;
            if (r < 1 || r > im.h - 2) continue;
            for (int q = 0; q < Q; ++q) s1[(q / 3) * 9 + dy * 3 + q % 3] += t[q];
            for (int lag = 0; dy + lag < 3; ++lag) {
                for (int i = 0; i < Q; ++i) {
                    const int pi = (i / 3) * 9 + dy * 3 + i % 3;
                    for (int j = 0; j < Q; ++j) {
                        const int pj = (j / 3) * 9 + (dy + lag) * 3 + j % 3;
                        s2[pi * K + pj] += d[lag][i * Q + j];
                        if (lag > 0) s2[pj * K + pi] += d[lag][i * Q + j];
                    }
                }
            }
        }
    }
}

struct Weights {
    const float* w1;    // (HID, K), normalisation folded in
    const float* b1;    // (HID)
    const float* w2;    // (Z, HID), row j = (ky * 3 + kx) * 3 + output channel
    const float* b2;    // (3)
    const float* post;  // colour, max_gain, dark_level, eps, luma r, g, b
};

constexpr int B = 2 * V;  // pixels per block of the hidden row: two vectors
constexpr int G = 8;      // hidden channels computed together (independent FMA chains)
constexpr int ZG = 9;     // conv2 contributions computed together

// conv2's contributions of hidden row r: zrow[j * width + 1 + x], replicated one column each side.
template <typename T>
void hidden_row(Rows<T>& cache, int w, const Weights& wt, int r, int wb, float* zrow) {
    const int width = wb + 2;
    const float* rows[9];
    cache.patch_rows(r, rows);
    for (int x = 0; x < wb; x += B) {
        vf h[HID][2];
        for (int c0 = 0; c0 < HID; c0 += G) {
            vf acc[G][2];
#pragma GCC unroll 8
            for (int c = 0; c < G; ++c) acc[c][0] = acc[c][1] = splat(wt.b1[c0 + c]);
#pragma GCC unroll 27
            for (int k = 0; k < K; ++k) {
                const float* row = rows[k / 3] + x + k % 3;
                const vf p0 = ld(row), p1 = ld(row + V);
#pragma GCC unroll 8
                for (int c = 0; c < G; ++c) {
                    const vf wk = splat(wt.w1[(c0 + c) * K + k]);
                    acc[c][0] += wk * p0;
                    acc[c][1] += wk * p1;
                }
            }
#pragma GCC unroll 8
            for (int c = 0; c < G; ++c) {
                h[c0 + c][0] = vgelu(acc[c][0]);
                h[c0 + c][1] = vgelu(acc[c][1]);
            }
        }
        for (int j0 = 0; j0 < Z; j0 += ZG) {
            vf acc[ZG][2] = {};
#pragma GCC unroll 4
            for (int c = 0; c < HID; ++c) {
                const vf h0 = h[c][0], h1 = h[c][1];
#pragma GCC unroll 9
                for (int j = 0; j < ZG; ++j) {
                    const vf wj = splat(wt.w2[(j0 + j) * HID + c]);
                    acc[j][0] += wj * h0;
                    acc[j][1] += wj * h1;
                }
            }
#pragma GCC unroll 9
            for (int j = 0; j < ZG; ++j) {
                st(zrow + (j0 + j) * width + 1 + x, acc[j][0]);
                st(zrow + (j0 + j) * width + 1 + x + V, acc[j][1]);
            }
        }
    }
    for (int j = 0; j < Z; ++j) {
        float* row = zrow + j * width;
        row[0] = row[1];
        row[w + 1] = row[w];
    }
}

template <typename T, typename U>
void output_row(Rows<T>& cache, int w, const Weights& wt, int y, int wb, float* const rings[3], float* out,
                const Target<U>& dst) {
    const int width = wb + 2;
    const float* src = cache.get(y) + 1;  // the input row, unpadded on the left
    const float colour = wt.post[0], max_gain = wt.post[1], dark = wt.post[2], eps = wt.post[3];
    const float lr = wt.post[4], lg = wt.post[5], lb = wt.post[6];
    for (int x = 0; x < wb; x += V) {
        vf acc[3] = {splat(wt.b2[0]), splat(wt.b2[1]), splat(wt.b2[2])};
        for (int ky = 0; ky < 3; ++ky) {
            const float* zr = rings[ky];
#pragma GCC unroll 9
            for (int t = 0; t < 9; ++t) {
                const int kx = t % 3, c = t / 3;
                acc[c] += ld(zr + ((ky * 3 + kx) * 3 + c) * width + x + kx);
            }
        }
        vf y01[3];
        for (int c = 0; c < 3; ++c) y01[c] = vtanh(acc[c]) * 0.5f + 0.5f;
        vf res[3] = {y01[0], y01[1], y01[2]};
        if (colour != 0.0f) {
            const vf s[3] = {ld(src + x), ld(src + width + x), ld(src + 2 * width + x)};
            const vf ly = lr * y01[0] + lg * y01[1] + lb * y01[2];
            const vf lx = lr * s[0] + lg * s[1] + lb * s[2];
            const vf gain = vmin(ly / vmax(lx, splat(eps)), splat(max_gain));
            const vf share = (1.0f - colour) * vmin(vmax(lx / dark, vf{}), splat(1.0f));
            for (int c = 0; c < 3; ++c) {
                const vf kept = vmin(vmax(s[c] * gain, vf{}), splat(1.0f));
                res[c] = share * y01[c] + (1.0f - share) * kept;
            }
        }
        for (int c = 0; c < 3; ++c) st(out + c * wb + x, vmin(vmax(res[c], vf{}), splat(1.0f)));
    }
    dst.put_row(y, out, wb, w);
}

template <typename T, typename U>
void run_rows(const Image<T>& im, const Weights& wt, int y0, int y1, const Target<U>& dst) {
    const int wb = round_up(im.w, B), width = wb + 2;
    Rows<T> cache(im, width);
    std::vector<float> ring(3 * Z * width), out(3 * wb);
    int next = std::max(y0 - 1, 0);
    for (int y = y0; y < y1; ++y) {
        for (const int last = std::min(y + 1, im.h - 1); next <= last; ++next)
            hidden_row(cache, im.w, wt, next, wb, ring.data() + (next % 3) * Z * width);
        float* const rings[3] = {ring.data() + (clampi(y - 1, 0, im.h - 1) % 3) * Z * width,
                                 ring.data() + (y % 3) * Z * width,
                                 ring.data() + (clampi(y + 1, 0, im.h - 1) % 3) * Z * width};
        output_row(cache, im.w, wt, y, wb, rings, out.data(), dst);
    }
}

int threads_for(int threads, int rows) { return std::max(1, std::min(threads, rows)); }

// Full symmetric s2 (27 x 27) and s1, summed over every output pixel's centred patch.
template <typename T>
int stats(const Image<T>& im, const float* centre, double* s1, double* s2, int threads) {
    if (im.h < 1 || im.w < 1) return 1;
    const int parts = threads_for(threads, im.h);
    std::vector<double> part1((size_t)parts * K, 0.0), part2((size_t)parts * K * K, 0.0);
#pragma omp parallel for num_threads(parts) schedule(static, 1) if (parts > 1)
    for (int i = 0; i < parts; ++i)
        stats_inner_rows(im, centre, split(im.h, parts, i), split(im.h, parts, i + 1), part1.data() + i * K,
                         part2.data() + (size_t)i * K * K);
    for (int i = 0; i < parts; ++i) {
        for (int k = 0; k < K; ++k) s1[k] += part1[i * K + k];
        for (int k = 0; k < K * K; ++k) s2[k] += part2[(size_t)i * K * K + k];
    }
    const int width = round_up(im.w, CHUNK) + 2;
    Rows<T> cache(im, width);
    stats_edge_row(cache, im.w, width, centre, 0, s1, s2);
    if (im.h > 1) stats_edge_row(cache, im.w, width, centre, im.h - 1, s1, s2);
    return 0;
}

template <typename T, typename U>
int run(const Image<T>& im, const Target<U>& out, const Weights& wt, int threads) {
    if (im.h < 1 || im.w < 1) return 1;
    const int parts = threads_for(threads, im.h);
#pragma omp parallel for num_threads(parts) schedule(static, 1) if (parts > 1)
    for (int i = 0; i < parts; ++i) run_rows(im, wt, split(im.h, parts, i), split(im.h, parts, i + 1), out);
    return 0;
}

Image<unsigned char> u8_image(const unsigned char* in, long sc, long sy, long sx, int h, int w, const float* read) {
    return Image<unsigned char>{in, sc, sy, sx, h, w, {read[0], read[1], read[2]}, {read[3], read[4], read[5]}};
}

}  // namespace

extern "C" {

// Sums over every output pixel of the centred patch (patch - centre[channel]): s1[k] and
// s2[i * 27 + j] (symmetric). Both are added to (zero them first). Float
// planes in [0, 1] (_f32) or 8-bit levels (_u8, read as max(level * read[c] + read[3 + c], 0)).
int nv_noiser_stats_f32(const float* in, long sc, long sy, long sx, int h, int w, const float* centre, double* s1,
                        double* s2, int threads) {
    return stats(Image<float>{in, sc, sy, sx, h, w, {1.0f, 1.0f, 1.0f}, {0.0f, 0.0f, 0.0f}}, centre, s1, s2, threads);
}

int nv_noiser_stats_u8(const unsigned char* in, long sc, long sy, long sx, int h, int w, const float* read,
                       const float* centre, double* s1, double* s2, int threads) {
    return stats(u8_image(in, sc, sy, sx, h, w, read), centre, s1, s2, threads);
}

// The fused net on one image: out = the Enhancer's [0, 1] output before its optional
// colour mix and exposure curve; _u8 reads 8-bit levels and writes round(out * 255 * gain).
int nv_noiser_run_f32(const float* in, long sc, long sy, long sx, int h, int w, float* out, long oc, long oy, long ox,
                      const float* w1, const float* b1, const float* w2, const float* b2, const float* post,
                      int threads) {
    return run(Image<float>{in, sc, sy, sx, h, w, {1.0f, 1.0f, 1.0f}, {0.0f, 0.0f, 0.0f}},
               Target<float>{out, oc, oy, ox, 1.0f},
               Weights{w1, b1, w2, b2, post}, threads);
}

int nv_noiser_run_u8(const unsigned char* in, long sc, long sy, long sx, int h, int w, const float* read,
                     unsigned char* out, long oc, long oy, long ox, float gain, const float* w1, const float* b1,
                     const float* w2, const float* b2, const float* post, int threads) {
    return run(u8_image(in, sc, sy, sx, h, w, read),
               Target<unsigned char>{out, oc, oy, ox, 255.0f * gain}, Weights{w1, b1, w2, b2, post}, threads);
}

int nv_noiser_hidden() { return HID; }

}  // extern "C"
