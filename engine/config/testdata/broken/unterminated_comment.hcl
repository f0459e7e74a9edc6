# want: Argument or block definition required
/* never closed
locals {}
