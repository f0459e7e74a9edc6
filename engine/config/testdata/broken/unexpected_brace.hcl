# want: Argument or block definition required
}
