# plugins/filter-wireshark: filled in when the plugin lands
