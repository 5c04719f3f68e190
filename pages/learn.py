"""Learn: what each kind of inference-time scaling does, costs and when it helps."""

from __future__ import annotations

import streamlit as st

from lab.ui.entry import ensure_entrypoint
from lab.ui.presets import request_preset, sections

ensure_entrypoint()
st.title("Learn")
st.caption("Inference-time scaling: spend more compute when answering, instead of training a "
           "bigger model. Each section opens the Playground set up to show it.")

for index, section in enumerate(sections()):
    category, preset = section.category, section.preset
    with st.container(border=True):
        st.subheader(category.title)
        st.caption("Strategies: " + ", ".join(f"`{s}`" for s in section.strategies))
        st.markdown(f"**What it does.** {category.what}")
        st.markdown(f"**What it costs.** {category.cost}")
        st.markdown(f"**When it helps.** {category.helps}")
        if preset is not None and st.button(f"Try {preset.strategy} in the Playground",
                                            key=f"learn.{index}",
                                            icon=":material/arrow_forward:"):
            request_preset(preset)
            st.switch_page("pages/playground.py")
