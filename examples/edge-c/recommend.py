#!/usr/bin/env python3
"""recommend.py: the C interface of encore-edge from Python, through ctypes (no build step).

    python3 recommend.py LIBENCORE_EDGE.so MODEL.edge N [ITEM ...]

prints "rank<TAB>item<TAB>score" lines, like recommend.c.
"""
import ctypes
import sys


def load(path):
    lib = ctypes.CDLL(path)
    model_p = ctypes.c_void_p
    lib.encore_edge_open.argtypes = [ctypes.c_char_p]
    lib.encore_edge_open.restype = model_p
    lib.encore_edge_last_error.restype = ctypes.c_char_p
    lib.encore_edge_num_items.argtypes = [model_p]
    lib.encore_edge_num_items.restype = ctypes.c_size_t
    lib.encore_edge_recommend.argtypes = [
        model_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_float),
        ctypes.c_size_t, ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_float),
    ]
    lib.encore_edge_recommend.restype = ctypes.c_int64
    lib.encore_edge_item_id.argtypes = [model_p, ctypes.c_uint32]
    lib.encore_edge_item_id.restype = ctypes.c_char_p
    lib.encore_edge_close.argtypes = [model_p]
    return lib


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    lib = load(sys.argv[1])
    model = lib.encore_edge_open(sys.argv[2].encode())
    if not model:
        print("error:", lib.encore_edge_last_error().decode(), file=sys.stderr)
        return 1
    n = int(sys.argv[3])
    history = [s.encode() for s in sys.argv[4:]]
    ids = (ctypes.c_char_p * max(len(history), 1))(*history)
    items = (ctypes.c_uint32 * max(n, 1))()
    scores = (ctypes.c_float * max(n, 1))()
    count = lib.encore_edge_recommend(model, ids, None, len(history), n, items, scores)
    if count < 0:
        print("error:", lib.encore_edge_last_error().decode(), file=sys.stderr)
        lib.encore_edge_close(model)
        return 1
    print(f"# {lib.encore_edge_num_items(model)} items in the model, {count} recommended")
    for r in range(count):
        item = lib.encore_edge_item_id(model, items[r]).decode()
        print(f"{r + 1}\t{item}\t{scores[r]:.4f}")
    lib.encore_edge_close(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
