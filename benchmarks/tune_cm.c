/* Bits/byte of variant 3's context-mixing model alone on the tuning files, per file and in total.
 *
 *   gcc -O2 -Iarchiver/models benchmarks/tune_cm.c archiver/models/hmm_cm_core.c -lm -o /tmp/tune_cm
 *   .venv/bin/python benchmarks/text_corpus.py --tune && /tmp/tune_cm 24 data/textbench/tune/*
 *
 * The first argument is the mixer step (HMM_CM_LR ships). Only ever on the tuning files, never on
 * the held-out ones (benchmarks/text_corpus.py, HELD_OUT). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "hmm_cm.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s LR FILE...\n", argv[0]);
        return 2;
    }
    const int lr = atoi(argv[1]);
    double all = 0;
    long allb = 0;
    for (int a = 2; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f) {
            perror(argv[a]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        const long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        unsigned char *d = malloc(n ? n : 1);
        if (!d || fread(d, 1, n, f) != (size_t)n) return 1;
        fclose(f);
        hmm_cm *cm = hmm_cm_new(n, lr);
        double bits = 0;
        for (long t = 0; t < n; t++) {
            uint64_t c, q;
            hmm_cm_byte(cm, d, t, d[t], &c, &q);
            bits += 32 - log2((double)(q ? q : 1));
        }
        printf("%-40s %8ld %.4f\n", argv[a], n, n ? bits / n : 0.0);
        all += bits;
        allb += n;
        hmm_cm_free(cm);
        free(d);
    }
    printf("total %.4f\n", allb ? all / allb : 0.0);
    return 0;
}
