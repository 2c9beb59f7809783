# tests of the steelfilter part: filled in when it lands
