# plugins/source-store: filled in when the plugin lands
