// Dark deblocking (nightvid/nets/deblock.py, deblock_dark) on the CPU: a sparse pass for the noise, then two passes.
//
// Why: in torch the step is some thirty passes over full-size tensors (products, a pad, a
// pool, a 6-channel upsample, the mix), and on NoiSER's fused engine it cost more than
// the net. Here pass 1 reads each pixel once and sums what the window statistics need
// into cells of SCALE x SCALE pixels; the box means and the guided filter's coefficients
// are computed on that small grid; pass 2 reads each pixel again, interpolates the fields
// bilinearly and writes the result. Same arithmetic as the torch function, up to float
// rounding (running sums there, direct sums here).
//
// Layout: images are float (3, H, W) planes with any element strides, values in [0, 1].
// tint: null, or the image's black-floor tint (nets.colour.black_floor_tint, 3 floats),
// taken off as nets.colour.neutral_black does where the pixel is read, so the step before
// the deblocking costs no pass of its own.
// params: dark, fade, chroma box (cells, odd), luma box (cells, odd), eps (luma units,
// not squared), SCALE, the Rec. 709 weights r, g, b, then where the blocks are
// (nets.deblock.BLOCKINESS): blockiness box (cells, odd), grid (px), low, high, floor
// (luma units), then how sensor noise smooths (nets.deblock.NOISE): low, high (8-bit
// levels), eps per sigma, fade per sigma (levels per level).

#include <algorithm>
#include <cmath>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// Mean over a (2h+1) x (2h+1) square of each cell of `src` (c planes of gh x gw), edges
// replicated, as nets.deblock.box_mean: rows first, then columns.
void box_mean(const std::vector<float>& src, std::vector<float>& dst, int c, int gh, int gw, int size) {
    const int h = size / 2;
    std::vector<float> rows(src.size());
    for (int p = 0; p < c; ++p) {
        const float* s = src.data() + (long)p * gh * gw;
        float* r = rows.data() + (long)p * gh * gw;
        for (int i = 0; i < gh; ++i) {
            for (int j = 0; j < gw; ++j) {
                double sum = 0.0;
                for (int d = -h; d <= h; ++d) sum += s[(long)i * gw + std::clamp(j + d, 0, gw - 1)];
                r[(long)i * gw + j] = (float)sum;
            }
        }
        float* o = dst.data() + (long)p * gh * gw;
        for (int i = 0; i < gh; ++i) {
            for (int j = 0; j < gw; ++j) {
                double sum = 0.0;
                for (int d = -h; d <= h; ++d) sum += r[(long)std::clamp(i + d, 0, gh - 1) * gw + j];
                o[(long)i * gw + j] = (float)(sum / ((double)size * size));
            }
        }
    }
}

// Bilinear source index and weight for output pixel `o` (align_corners=False, as torch).
inline void source(int o, int scale, int n, int& i0, int& i1, float& t) {
    float s = ((float)o + 0.5f) / (float)scale - 0.5f;
    s = std::max(s, 0.0f);
    i0 = std::min((int)s, n - 1);
    i1 = std::min(i0 + 1, n - 1);
    t = s - (float)i0;
}

}  // namespace

extern "C" {

// out = deblock_dark(x) for one (3, H, W) image; 0 on success, -1 on bad parameters.
int nv_deblock_f32(const float* x, long xc, long xh, long xw, int height, int width, float* out, long oc, long oh,
                   long ow, const float* params, const float* tint, int threads) {
    const float base_dark = params[0], base_fade = params[1], eps = params[4];
    const int chroma = (int)params[2], luma_box = (int)params[3], scale = (int)params[5];
    const float wr = params[6], wg = params[7], wb = params[8];
    const int block_box = (int)params[9], grid = (int)params[10];
    const float low = params[11], high = params[12], floor_ = params[13];
    const float noise_low = params[14], noise_high = params[15], eps_per_sigma = params[16];
    const float fade_per_sigma = params[17];
    if (height < 1 || width < 1 || scale < 1 || chroma % 2 != 1 || luma_box % 2 != 1 || base_fade <= base_dark)
        return -1;
    if (block_box % 2 != 1 || grid < 2 || high <= low || noise_high <= noise_low) return -1;
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#endif
    const int gh = (height + scale - 1) / scale, gw = (width + scale - 1) / scale;
    const long cells = (long)gh * gw;
    // nets.colour.neutral_black first, into a planar copy ((x - t) / (1 - t) clamped): one
    // vectorised pass, where taking it off at every read slowed the passes below by half
    std::vector<float> tinted;
    if (tint) {
        tinted.resize(3 * (size_t)height * width);
        for (int c = 0; c < 3; ++c) {
            const float t = tint[c], inv = 1.0f / (1.0f - tint[c]);
#pragma omp parallel for schedule(static)
            for (int i = 0; i < height; ++i) {
                const float* src = x + c * xc + (long)i * xh;
                float* dst = tinted.data() + ((long)c * height + i) * width;
                for (int j = 0; j < width; ++j) dst[j] = std::clamp((src[(long)j * xw] - t) * inv, 0.0f, 1.0f);
            }
        }
        x = tinted.data();
        xc = (long)height * width;
        xh = width;
        xw = 1;
    }
    auto at = [&](int c, int i, int j) { return x[c * xc + (long)i * xh + (long)j * xw]; };

    auto luma_at = [&](int i, int j) { return at(0, i, j) * wr + at(1, i, j) * wg + at(2, i, j) * wb; };

    // Pass 0: the dark noise (nets.deblock.dark_noise): at one pixel per cell (its second
    // row and column), the pixel's darkness times its mean absolute response to the 3x3
    // mask that cancels planes and ramps; then what it changes (nets.deblock.noise_smoothing).
    auto laplace = [&](int c, int i, int j) {
        const float* p = x + c * xc;
        auto v = [&](int a, int b) { return p[(long)a * xh + (long)b * xw]; };
        return std::fabs(v(i - 1, j - 1) + v(i - 1, j + 1) + v(i + 1, j - 1) + v(i + 1, j + 1) -
                         2.0f * (v(i - 1, j) + v(i + 1, j) + v(i, j - 1) + v(i, j + 1)) + 4.0f * v(i, j));
    };
    double noise_sum = 0.0, noise_weight = 0.0;
    const float base_inv_range = 1.0f / (base_fade - base_dark);
#pragma omp parallel for schedule(static) reduction(+ : noise_sum, noise_weight)
    for (int i = 1; i < height - 1; i += scale) {
        for (int j = 1; j < width - 1; j += scale) {
            const float w = std::clamp((base_fade - luma_at(i, j)) * base_inv_range, 0.0f, 1.0f);
            if (w > 0.0f) noise_sum += w * (laplace(0, i, j) + laplace(1, i, j) + laplace(2, i, j)) / 3.0f;
            noise_weight += w;
        }
    }
    const float sigma = (float)(noise_sum / std::max(noise_weight, 1.0) * 255.0 * std::sqrt(std::acos(-1.0) / 2.0) / 6.0);
    const float noisy = std::clamp((sigma - noise_low) / (noise_high - noise_low), 0.0f, 1.0f);
    const float eps_noise = std::max(sigma * eps_per_sigma / 255.0f, eps);
    const float reach = fade_per_sigma / 255.0f * std::max(sigma - noise_low, 0.0f);
    const float dark = base_dark + reach / 2.0f, fade = base_fade + reach;
    const float inv_range = 1.0f / (fade - dark);

    // Pass 1: per cell, the means of x*w (3), y*w, y, y*y, and of the luma steps to the
    // right and lower neighbours on the block lines and off them (nets.deblock.block_steps);
    // rows and columns past the image's edge repeat its last row and column (torch's
    // replicate pad before the pool).
    std::vector<float> small(8 * cells);
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < gh; ++ci) {
        for (int cj = 0; cj < gw; ++cj) {
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int di = 0; di < scale; ++di) {
                const int i = std::min(ci * scale + di, height - 1);
                for (int dj = 0; dj < scale; ++dj) {
                    const int j = std::min(cj * scale + dj, width - 1);
                    const float r = at(0, i, j), g = at(1, i, j), b = at(2, i, j);
                    const float y = r * wr + g * wg + b * wb;
                    const float w = std::clamp((fade - y) * inv_range, 0.0f, 1.0f);
                    acc[0] += r * w;
                    acc[1] += g * w;
                    acc[2] += b * w;
                    acc[3] += y * w;
                    acc[4] += y;
                    acc[5] += y * y;
                    const float dx = j + 1 < width ? std::fabs(luma_at(i, j + 1) - y) : 0.0f;
                    const float dy = i + 1 < height ? std::fabs(luma_at(i + 1, j) - y) : 0.0f;
                    const bool on_x = j % grid == grid - 1, on_y = i % grid == grid - 1;
                    acc[6] += (on_x ? dx : 0.0f) + (on_y ? dy : 0.0f);
                    acc[7] += (on_x ? 0.0f : dx) + (on_y ? 0.0f : dy);
                }
            }
            for (int k = 0; k < 8; ++k) small[k * cells + (long)ci * gw + cj] = (float)(acc[k] / (scale * scale));
        }
    }

    // The small grid: chroma sums, the guided filter's a and b, their box means, and the
    // smoothing's strength from where the blocks are.
    std::vector<float> sums(4 * cells), stats(2 * cells), coeffs(2 * cells), steps(2 * cells), fields(7 * cells);
    box_mean(std::vector<float>(small.begin(), small.begin() + 4 * cells), sums, 4, gh, gw, chroma);
    box_mean(std::vector<float>(small.begin() + 4 * cells, small.begin() + 6 * cells), stats, 2, gh, gw, luma_box);
    box_mean(std::vector<float>(small.begin() + 6 * cells, small.end()), steps, 2, gh, gw, block_box);
    // sensor noise smooths whether there are blocks or not
    for (long k = 0; k < cells; ++k) {
        const float ratio = steps[k] * (float)(grid - 1) / (steps[cells + k] + floor_);
        fields[6 * cells + k] = std::max(std::clamp((ratio - low) / (high - low), 0.0f, 1.0f), noisy);
    }
    for (long k = 0; k < cells; ++k) {
        const float mean = stats[k], var = std::max(stats[cells + k] - mean * mean, 0.0f);
        const float a = var / (var + eps_noise * eps_noise);
        coeffs[k] = a;
        coeffs[cells + k] = mean - a * mean;
    }
    box_mean(std::vector<float>(coeffs), coeffs, 2, gh, gw, luma_box);
    std::copy(sums.begin(), sums.end(), fields.begin());
    std::copy(coeffs.begin(), coeffs.end(), fields.begin() + 4 * cells);

    // Pass 2: each pixel with its fields interpolated: the two grid rows around it first
    // (once per image row), then the two columns.
    std::vector<int> col0(width), col1(width);
    std::vector<float> colt(width);
    for (int j = 0; j < width; ++j) source(j, scale, gw, col0[j], col1[j], colt[j]);
#pragma omp parallel
    {
        std::vector<float> row(7 * (long)gw);
#pragma omp for schedule(static)
        for (int i = 0; i < height; ++i) {
            int i0, i1;
            float ti;
            source(i, scale, gh, i0, i1, ti);
            for (int k = 0; k < 7; ++k) {
                const float* p = fields.data() + k * cells;
                for (int cj = 0; cj < gw; ++cj)
                    row[(long)k * gw + cj] = p[(long)i0 * gw + cj] * (1.0f - ti) + p[(long)i1 * gw + cj] * ti;
            }
            for (int j = 0; j < width; ++j) {
                const int j0 = col0[j], j1 = col1[j];
                const float tj = colt[j];
                float f[7];
                for (int k = 0; k < 7; ++k) {
                    const float* q = row.data() + (long)k * gw;
                    f[k] = q[j0] * (1.0f - tj) + q[j1] * tj;
                }
                const float r = at(0, i, j), g = at(1, i, j), b = at(2, i, j);
                const float y = r * wr + g * wg + b * wb;
                // smoothed only where it is dark and blocky
                const float w = std::clamp((fade - y) * inv_range, 0.0f, 1.0f) * f[6];
                const float per_luma = y / std::max(f[3], 1e-6f);  // chromaticity times this pixel's luma
                const float target = y + w * (f[4] * y + f[5] - y);
                const float gain = target / std::max(y, 1e-4f);
                const float in[3] = {r, g, b};
                for (int c = 0; c < 3; ++c) {
                    const float mixed = in[c] + w * (f[c] * per_luma - in[c]);
                    out[c * oc + (long)i * oh + (long)j * ow] = std::clamp(mixed * gain, 0.0f, 1.0f);
                }
            }
        }
    }
    return 0;
}

}  // extern "C"
