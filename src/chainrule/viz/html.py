def to_html(tr, path=None, title=None):
    return "<!DOCTYPE html>swaps"
