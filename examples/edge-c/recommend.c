/* recommend: top-N recommendations on the device, from an Encore edge model file.
 *
 *   recommend MODEL.edge N [ITEM[=WEIGHT] ...]
 *
 * prints "rank<TAB>item<TAB>score" lines for the history given as item ids (weight 1 unless
 * given). Exits 1 with the library's error message when the file cannot be opened.
 * Build and run: make run (see Makefile). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encore_edge.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.edge N [ITEM[=WEIGHT] ...]\n", argv[0]);
        return 2;
    }
    EncoreEdgeModel *model = encore_edge_open(argv[1]);
    if (model == NULL) {
        fprintf(stderr, "error: %s\n", encore_edge_last_error());
        return 1;
    }
    size_t n = (size_t)strtoul(argv[2], NULL, 10);
    size_t history_len = (size_t)(argc - 3);
    const char **ids = calloc(history_len + 1, sizeof *ids);
    float *weights = calloc(history_len + 1, sizeof *weights);
    uint32_t *items = calloc(n + 1, sizeof *items);
    float *scores = calloc(n + 1, sizeof *scores);
    if (ids == NULL || weights == NULL || items == NULL || scores == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < history_len; i++) {
        char *arg = argv[3 + i];
        char *eq = strchr(arg, '=');
        weights[i] = 1.0f;
        if (eq != NULL) {
            *eq = '\0';
            weights[i] = strtof(eq + 1, NULL);
        }
        ids[i] = arg;
    }
    int64_t count = encore_edge_recommend(model, ids, weights, history_len, n, items, scores);
    if (count < 0) {
        fprintf(stderr, "error: %s\n", encore_edge_last_error());
        encore_edge_close(model);
        return 1;
    }
    printf("# %zu items in the model, %lld recommended\n", encore_edge_num_items(model),
           (long long)count);
    for (int64_t r = 0; r < count; r++) {
        printf("%lld\t%s\t%.4f\n", (long long)(r + 1), encore_edge_item_id(model, items[r]),
               scores[r]);
    }
    encore_edge_close(model);
    free(ids);
    free(weights);
    free(items);
    free(scores);
    return 0;
}
