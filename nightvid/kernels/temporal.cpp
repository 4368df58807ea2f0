// The temporal noise filter's fusion (nightvid/streamer/temporal.py, fuse + to_deep) in one pass.
//
// Why: in OpenCV the fusion is a dozen full-size passes per neighbour (a float copy of
// the frame, the weight's exp, its three-channel copy, a multiply-accumulate, a divide,
// the 16-bit rounding), 8 ms of a 640x360 frame on one core; here each pixel is read
// once from every frame and written once. Same arithmetic as the Python function, up to
// float rounding.
//
// Inputs: the centre frame and n aligned neighbours, RGB, H x W x 3, contiguous, each
// 8-bit (deep = 0) or 16-bit (deep = 1: the filter's previous output); the 5x5 box means
// of their lumas in 8-bit levels (float32, H x W; the centre's first); each neighbour's
// strength (its weight's scale: 1 for a raw frame, more for the previous output, which
// averages several); `inv_tau2` = 1 / tau^2 of the weight exp(-(d/tau)^2).
// Output: H x W x 3 uint16, the weighted mean on the 16-bit scale (8-bit levels times 257),
// rounded.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int kMaxNeighbours = 16;

// exp(x) for x <= 0, in a form the compiler vectorises (std::exp is a scalar libm call):
// 2^(x log2 e) as 2^integer (the float's exponent bits) times a degree-6 polynomial of
// 2^fraction; relative error under 2e-7, 0 below -87.
inline float exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float t = x * 1.44269504088896341f;
    const float i = std::floor(t);
    const float f = t - i;
    float p = 1.535336188319500e-4f;
    p = p * f + 1.339887440266574e-3f;
    p = p * f + 9.618437357674640e-3f;
    p = p * f + 5.550332471162809e-2f;
    p = p * f + 2.402264791363012e-1f;
    p = p * f + 6.931472028550421e-1f;
    p = p * f + 1.0f;
    const int32_t bits = ((int32_t)i + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// acc[e] += w[e] * frame[e] over one row of `count` elements.
template <typename T>
inline void accumulate(const void* frame, long offset, const float* __restrict w, float* __restrict acc, long count) {
    const T* __restrict a = static_cast<const T*>(frame) + offset;
    for (long e = 0; e < count; ++e) acc[e] += w[e] * (float)a[e];
}

// acc[e] = scale * frame[e] over one row of `count` elements.
template <typename T>
inline void start_row(const void* frame, long offset, float scale, float* __restrict acc, long count) {
    const T* __restrict a = static_cast<const T*>(frame) + offset;
    for (long e = 0; e < count; ++e) acc[e] = scale * (float)a[e];
}

constexpr float level(int deep) { return deep ? 1.0f : 257.0f; }

}  // namespace

extern "C" {

int nv_temporal_max_neighbours() { return kMaxNeighbours; }

// 0 on success, -1 on bad parameters.
int nv_temporal_fuse(const void* centre, int centre_deep, const void* const* neighbours, const int* deep,
                     const float* strength, const float* const* boxes, int n, int height, int width, float inv_tau2,
                     uint16_t* out) {
    if (n < 0 || n > kMaxNeighbours || height < 1 || width < 1) return -1;
    const long row = 3L * width;
    // per row: slot 0 the norm 1 / (sum of the weights), slot k + 1 neighbour k's weight for
    // every element (a pixel's weight three times, times its frame's level scale)
    std::vector<float> weights((size_t)(n + 1) * row), acc(row), total(width), pixel(width);
    for (int i = 0; i < height; ++i) {
        const float* cbox = boxes[0] + (long)i * width;
        for (int j = 0; j < width; ++j) total[j] = 1.0f;
        for (int k = 0; k < n; ++k) {
            const float* box = boxes[k + 1] + (long)i * width;
            const float s = strength[k], lv = level(deep[k]);
            float* __restrict p = pixel.data();
            for (int j = 0; j < width; ++j) {
                const float d = box[j] - cbox[j];
                p[j] = s * exp_neg(-d * d * inv_tau2);
            }
            float* w = weights.data() + (k + 1) * row;
            for (int j = 0; j < width; ++j) {
                total[j] += p[j];
                w[3 * j] = w[3 * j + 1] = w[3 * j + 2] = p[j] * lv;
            }
        }
        float* w0 = weights.data();
        for (int j = 0; j < width; ++j) {
            const float norm = 1.0f / total[j];
            w0[3 * j] = w0[3 * j + 1] = w0[3 * j + 2] = norm;
        }
        if (centre_deep)
            start_row<uint16_t>(centre, (long)i * row, level(1), acc.data(), row);
        else
            start_row<uint8_t>(centre, (long)i * row, level(0), acc.data(), row);
        for (int k = 0; k < n; ++k) {
            const float* w = weights.data() + (k + 1) * row;
            if (deep[k])
                accumulate<uint16_t>(neighbours[k], (long)i * row, w, acc.data(), row);
            else
                accumulate<uint8_t>(neighbours[k], (long)i * row, w, acc.data(), row);
        }
        uint16_t* o = out + (long)i * row;
        for (long e = 0; e < row; ++e) o[e] = (uint16_t)(acc[e] * w0[e] + 0.5f);
    }
    return 0;
}

}  // extern "C"
