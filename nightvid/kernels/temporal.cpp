// The temporal noise filter's fusion (nightvid/streamer/temporal.py, fuse + to_deep) in one pass.
//
// Why: in OpenCV the fusion is a dozen full-size passes per neighbour (a float copy of
// the frame, the weight's exp, its three-channel copy, a multiply-accumulate, a divide,
// the 16-bit rounding), 8 ms of a 640x360 frame on one core; here each pixel is read
// once from every frame and written once, about a tenth of that. Same arithmetic as the
// Python function, up to float rounding.
//
// Inputs: the centre frame and n aligned neighbours, RGB, H x W x 3, uint8 or uint16,
// rows `stride` elements apart; the 5x5 box means of their lumas (float32, H x W,
// contiguous; the centre's first); `inv_tau2` = 1 / tau^2 of the weight exp(-(d/tau)^2).
// Output: H x W x 3 uint16, contiguous, the weighted mean times `scale` (257 for 8-bit
// input, 1 for 16-bit), rounded.

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

template <typename T>
int fuse(const T* centre, const T* const* neighbours, const float* const* boxes, int n, int height, int width,
         long stride, float inv_tau2, float scale, uint16_t* out) {
    if (n < 0 || n > kMaxNeighbours || height < 1 || width < 1 || stride < 3L * width) return -1;
    const long row = 3L * width;
    // per row: each neighbour's weight for every element (a pixel's weight three times), the norm
    std::vector<float> weights((size_t)(n > 0 ? n : 1) * row), norm(row), acc(row), total(width), one(width);
    for (int i = 0; i < height; ++i) {
        const float* cbox = boxes[0] + (long)i * width;
        for (int j = 0; j < width; ++j) total[j] = 1.0f;
        for (int k = 0; k < n; ++k) {
            const float* box = boxes[k + 1] + (long)i * width;
            float* w = weights.data() + k * row;
            float* __restrict pixel = one.data();
            for (int j = 0; j < width; ++j) {
                const float d = box[j] - cbox[j];
                pixel[j] = exp_neg(-d * d * inv_tau2);
            }
            for (int j = 0; j < width; ++j) {
                total[j] += pixel[j];
                w[3 * j] = w[3 * j + 1] = w[3 * j + 2] = pixel[j];
            }
        }
        for (int j = 0; j < width; ++j) {
            const float v = scale / total[j];
            norm[3 * j] = v;
            norm[3 * j + 1] = v;
            norm[3 * j + 2] = v;
        }
        const T* c = centre + (long)i * stride;
        for (long e = 0; e < row; ++e) acc[e] = (float)c[e];
        for (int k = 0; k < n; ++k) {
            const T* a = neighbours[k] + (long)i * stride;
            const float* w = weights.data() + k * row;
            for (long e = 0; e < row; ++e) acc[e] += w[e] * (float)a[e];
        }
        uint16_t* o = out + (long)i * row;
        for (long e = 0; e < row; ++e) o[e] = (uint16_t)(acc[e] * norm[e] + 0.5f);
    }
    return 0;
}

}  // namespace

extern "C" {

int nv_temporal_max_neighbours() { return kMaxNeighbours; }

// 0 on success, -1 on bad parameters.
int nv_temporal_fuse_u8(const uint8_t* centre, const uint8_t* const* neighbours, const float* const* boxes, int n,
                        int height, int width, long stride, float inv_tau2, float scale, uint16_t* out) {
    return fuse(centre, neighbours, boxes, n, height, width, stride, inv_tau2, scale, out);
}

int nv_temporal_fuse_u16(const uint16_t* centre, const uint16_t* const* neighbours, const float* const* boxes, int n,
                         int height, int width, long stride, float inv_tau2, float scale, uint16_t* out) {
    return fuse(centre, neighbours, boxes, n, height, width, stride, inv_tau2, scale, out);
}

}  // extern "C"
