# plugins/filter-steelfilter: filled in when the plugin lands
