"""One module of exercises per chapter; notebooks import ``q1``, ``q2``, ... from theirs."""
