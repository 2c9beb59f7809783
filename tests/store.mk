# tests of the store part: filled in when it lands
