/** Entry of the patient's page (join.html): reads the link token from the fragment, then renders the page. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { JoinApp } from './join-app';
import '../visit/visit.css';

const token = location.hash.length > 1 ? decodeURIComponent(location.hash.slice(1)) : '';
// The token never stays in the address bar (or the history, or a screenshot).
if (token) history.replaceState(null, '', '/join');

const main = document.getElementById('main');
if (main)
  createRoot(main).render(
    <StrictMode>
      <JoinApp token={token} />
    </StrictMode>,
  );
