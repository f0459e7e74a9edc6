# want: Unsupported argument
locals = 1
