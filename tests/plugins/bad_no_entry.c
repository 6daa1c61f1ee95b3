/* A shared object that is not a plugin: it lacks the entry symbol. */
int tc_plugin_init_misspelled(void);
int tc_plugin_init_misspelled(void) { return 0; }
