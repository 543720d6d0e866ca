/*
 * stb_image_impl.c - the one translation unit with stb_image's implementation (Debian's
 * libstb-dev, <stb/stb_image.h>). CMake compiles it without our warning flags: the warnings
 * would be stb's, not ours.
 */
#define STB_IMAGE_IMPLEMENTATION
/* We decode from memory only: the files are read (and size-checked) by inputs.c. */
#define STBI_NO_STDIO
#include <stb/stb_image.h>
