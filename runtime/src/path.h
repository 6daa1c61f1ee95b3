/* Internal: small file-path helpers shared by the loader and the writers. */
#ifndef TC_PATH_H
#define TC_PATH_H

/* The folder part of path ("." when it has no slash, "/" for a file at the
 * root). Owner: the caller, freed with free(); NULL when out of memory. */
char *tc_path_folder(const char *path);

#endif
