"""The monitor's static site, what policy makers read: `build_site(documents, out_dir)`."""

from analyst.site.build import build_site, page_count

__all__ = ["build_site", "page_count"]
