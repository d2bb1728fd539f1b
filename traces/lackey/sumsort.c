/* A small program whose memory trace (valgrind --tool=lackey --trace-mem=yes) is in sumsort.lackey.gz:
 * it fills a 1 MiB heap array, strides over it by pages, sorts a small array and recurses on the stack.
 * Built with: gcc -O1 -static -o sumsort sumsort.c */
#include <stdlib.h>

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static long depth(int n) { volatile char pad[512]; pad[0] = (char)n; return n == 0 ? pad[0] : depth(n - 1) + pad[0]; }

int main(void) {
    enum { N = 1 << 18 };                 /* 256 Ki ints = 1 MiB */
    int *a = malloc(N * sizeof *a);
    long sum = 0;
    for (int i = 0; i < N; i += 64) a[i] = i;            /* touch every 256th byte: each page */
    for (int i = 0; i < N; i += 1024) sum += a[i];       /* stride by 4 KiB */
    int small[512];
    for (int i = 0; i < 512; i++) small[i] = (i * 7919) % 512;
    qsort(small, 512, sizeof small[0], cmp);
    sum += depth(64) + small[3];
    free(a);
    return (int)(sum & 1);
}
