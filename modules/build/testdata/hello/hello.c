/* A tiny program for the build module's tests: built on the builder,
 * packaged, installed and run there. */
#include <stdio.h>

#ifndef GREETING
#define GREETING "hello from pinery"
#endif

int main(void)
{
	printf("%s\n", GREETING);
	return 0;
}
