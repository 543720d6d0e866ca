/* SPDX-License-Identifier: MIT */
/*
 * ptx_builtins.h - the OpenCL C builtins kernels/ calls that clang's nvptx64-nvidia-nvcl target
 * leaves undefined (it declares them through opencl-c.h, but there is no libclc to link), for
 * tools/dev/ptx_stats.sh. Each is defined as NVIDIA's OpenCL compiles it: work-item functions from
 * the special registers, barrier as bar.sync, mem_fence(GLOBAL) as membar.gl, fma/mad as
 * fma.rn, and vloadN/vstoreN element by element (their contract: float alignment only, so a
 * vector instruction appears only where the compiler proves the alignment, as on NVIDIA).
 * Included after opencl-c.h (clang's -include), so that these definitions match its
 * declarations.
 */
#define DC_PTX_OVL __attribute__((overloadable, always_inline))

DC_PTX_OVL size_t get_local_id(uint d)
{
    return d == 0   ? __nvvm_read_ptx_sreg_tid_x()
           : d == 1 ? __nvvm_read_ptx_sreg_tid_y()
                    : __nvvm_read_ptx_sreg_tid_z();
}
DC_PTX_OVL size_t get_group_id(uint d)
{
    return d == 0   ? __nvvm_read_ptx_sreg_ctaid_x()
           : d == 1 ? __nvvm_read_ptx_sreg_ctaid_y()
                    : __nvvm_read_ptx_sreg_ctaid_z();
}
DC_PTX_OVL size_t get_local_size(uint d)
{
    return d == 0   ? __nvvm_read_ptx_sreg_ntid_x()
           : d == 1 ? __nvvm_read_ptx_sreg_ntid_y()
                    : __nvvm_read_ptx_sreg_ntid_z();
}
DC_PTX_OVL size_t get_num_groups(uint d)
{
    return d == 0   ? __nvvm_read_ptx_sreg_nctaid_x()
           : d == 1 ? __nvvm_read_ptx_sreg_nctaid_y()
                    : __nvvm_read_ptx_sreg_nctaid_z();
}
DC_PTX_OVL size_t get_global_id(uint d)
{
    return get_group_id(d) * get_local_size(d) + get_local_id(d);
}
DC_PTX_OVL void barrier(cl_mem_fence_flags f)
{
    (void)f;
    __syncthreads();
}
DC_PTX_OVL void mem_fence(cl_mem_fence_flags f)
{
    if (f & CLK_GLOBAL_MEM_FENCE)
        __nvvm_membar_gl();
    else
        __nvvm_membar_cta();
}
DC_PTX_OVL float fma(float a, float b, float c)
{
    return __builtin_fmaf(a, b, c);
}
DC_PTX_OVL float mad(float a, float b, float c)
{
    return __builtin_fmaf(a, b, c);
}
DC_PTX_OVL float max(float a, float b)
{
    return __builtin_fmaxf(a, b);
}
DC_PTX_OVL float min(float a, float b)
{
    return __builtin_fminf(a, b);
}
DC_PTX_OVL float fmax(float a, float b)
{
    return __builtin_fmaxf(a, b);
}
DC_PTX_OVL float fabs(float a)
{
    return __builtin_fabsf(a);
}
DC_PTX_OVL int max(int a, int b)
{
    return a > b ? a : b;
}
DC_PTX_OVL int min(int a, int b)
{
    return a < b ? a : b;
}
/* atom.global.add / atom.global.exch, as inline PTX: clang's nvcl target has no lock-free
 * atomics of its own (it would call a library). */
DC_PTX_OVL int atomic_add(volatile __global int *p, int v)
{
    int r;
    __asm__ volatile("atom.global.add.u32 %0, [%1], %2;" : "=r"(r) : "l"(p), "r"(v) : "memory");
    return r;
}
DC_PTX_OVL int atomic_inc(volatile __global int *p)
{
    return atomic_add(p, 1);
}
DC_PTX_OVL int atomic_xchg(volatile __global int *p, int v)
{
    int r;
    __asm__ volatile("atom.global.exch.b32 %0, [%1], %2;" : "=r"(r) : "l"(p), "r"(v) : "memory");
    return r;
}
DC_PTX_OVL float atomic_xchg(volatile __global float *p, float v)
{
    float r;
    __asm__ volatile("atom.global.exch.b32 %0, [%1], %2;" : "=f"(r) : "l"(p), "f"(v) : "memory");
    return r;
}

#define DC_PTX_VLS(n, AS)                                                                          \
    DC_PTX_OVL float##n vload##n(size_t i, const AS float *p)                                      \
    {                                                                                              \
        float##n v;                                                                                \
        for (int j = 0; j < n; j++)                                                                \
            v[j] = p[i * n + j];                                                                   \
        return v;                                                                                  \
    }                                                                                              \
    DC_PTX_OVL void vstore##n(float##n v, size_t i, AS float *p)                                   \
    {                                                                                              \
        for (int j = 0; j < n; j++)                                                                \
            p[i * n + j] = v[j];                                                                   \
    }
#define DC_PTX_VL(n) DC_PTX_VLS(n, __global) DC_PTX_VLS(n, __local) DC_PTX_VLS(n, __private)
DC_PTX_VL(2)
DC_PTX_VL(4)
DC_PTX_VL(8)
DC_PTX_VL(16)
