# plugins/format-pcapng: filled in when the plugin lands
