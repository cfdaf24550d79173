/* The C half of kiln's example: compiled by the build script (cc-rs) for the target. */
const char *hello_greeting(void)
{
    return "Hello";
}
