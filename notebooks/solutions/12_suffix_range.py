def suffix_range(n, size):
    return max(0, size - n), size - 1
